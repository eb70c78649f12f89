"""``shared.ports.BlobStore`` over a JS ``R2Bucket`` binding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cloudflare_adapters.convert import array_buffer_to_bytes, bytes_to_js, from_js_value, raw_binding, to_js_value
from shared.errors import LimitExceededError
from shared.ports import BlobInfo, ByteRange, ListPage

MAX_DELETE = 1000


def _info(obj: Any) -> BlobInfo:
    http = obj.httpMetadata
    custom = from_js_value(obj.customMetadata) or {}
    uploaded = obj.uploaded
    return BlobInfo(
        key=str(obj.key),
        size=int(obj.size),
        etag=str(obj.etag),
        uploaded=float(uploaded.getTime()) / 1000.0 if uploaded is not None else 0.0,
        content_type=(str(http.contentType) if http is not None and http.contentType else None),
        custom_metadata={str(k): str(v) for k, v in custom.items()},
    )


class R2Body:
    """An ``R2ObjectBody``: ``raw`` is its ``ReadableStream``, never copied unless read."""

    def __init__(self, obj: Any, byte_range: ByteRange | None) -> None:
        self._obj = obj
        self.info = _info(obj)
        self.range = byte_range

    @property
    def raw(self) -> Any:
        return self._obj.body

    async def read(self) -> bytes:
        return await array_buffer_to_bytes(self._obj.arrayBuffer())


class R2BlobStore:
    def __init__(self, binding: Any) -> None:
        self._bucket = raw_binding(binding)

    async def put(
        self, key: str, data: bytes, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> BlobInfo:
        options = to_js_value(
            {"httpMetadata": {"contentType": content_type}, "customMetadata": dict(custom_metadata)}
        )
        obj = await self._bucket.put(key, bytes_to_js(data), options)
        return _info(obj)

    async def get(self, key: str, byte_range: ByteRange | None = None) -> R2Body | None:
        if byte_range is None:
            obj = await self._bucket.get(key)
        else:
            options = to_js_value({"range": {"offset": byte_range.offset, "length": byte_range.length}})
            obj = await self._bucket.get(key, options)
        if obj is None or from_js_value(obj) is None:
            return None
        return R2Body(obj, byte_range)

    async def head(self, key: str) -> BlobInfo | None:
        obj = await self._bucket.head(key)
        if obj is None or from_js_value(obj) is None:
            return None
        return _info(obj)

    async def delete(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        if len(keys) > MAX_DELETE:
            raise LimitExceededError(f"R2 delete takes at most {MAX_DELETE} keys, got {len(keys)}")
        await self._bucket.delete(to_js_value(list(keys)))

    async def list(
        self, *, prefix: str = "", cursor: str | None = None, limit: int = 1000, start_after: str | None = None
    ) -> ListPage:
        options: dict[str, Any] = {"prefix": prefix, "limit": limit, "include": ["httpMetadata", "customMetadata"]}
        if cursor:
            options["cursor"] = cursor
        if start_after:
            options["startAfter"] = start_after
        result = await self._bucket.list(to_js_value(options))
        objects = [_info(o) for o in result.objects]
        truncated = bool(result.truncated)
        next_cursor = str(result.cursor) if truncated and result.cursor else None
        return ListPage(objects=objects, truncated=truncated, cursor=next_cursor)
