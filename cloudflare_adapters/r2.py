"""``shared.ports.BlobStore`` over a JS ``R2Bucket`` binding.

Multipart: an ``R2MultipartUpload`` is an I/O object of the request that made
it, so none is kept between calls. ``create_multipart_upload`` returns only
the key and upload id; every later call gets its own handle with
``resumeMultipartUpload(key, uploadId)`` (no I/O of its own) and uses it at
once. R2's "NoSuchUpload" (code 10024) becomes ``NoSuchUploadError``, its
"InvalidPart" (10025) ``InvalidPartError``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from cloudflare_adapters.convert import array_buffer_to_bytes, bytes_to_js, from_js_value, raw_binding, to_js_value
from shared.errors import InvalidPartError, LimitExceededError, NoSuchUploadError
from shared.platform_limits import R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST
from shared.ports import BlobInfo, ByteRange, ListPage, MultipartUpload, UploadedPart


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

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        """The body as its ``ReadableStream`` delivers it (one copy out of the JS heap a piece), in
        pieces of at most ``size`` bytes; the stream is canceled if the reader stops early."""
        reader = self._obj.body.getReader()
        finished = False
        try:
            while True:
                result = await reader.read()
                if result.done:
                    finished = True
                    return
                data = bytes(result.value.to_bytes())
                if len(data) <= size:
                    yield data
                    continue
                view = memoryview(data)
                for start in range(0, len(data), size):
                    yield bytes(view[start : start + size])
        finally:
            if not finished:
                await reader.cancel()
            reader.releaseLock()


class R2BlobStore:
    def __init__(self, binding: Any) -> None:
        self._bucket = raw_binding(binding)

    async def put(
        self, key: str, data: bytes | bytearray, *, content_type: str, custom_metadata: Mapping[str, str]
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
        if len(keys) > R2_MAX_KEYS_PER_DELETE:
            raise LimitExceededError(f"R2 delete takes at most {R2_MAX_KEYS_PER_DELETE} keys, got {len(keys)}")
        await self._bucket.delete(to_js_value(list(keys)))

    async def list(
        self,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = R2_MAX_KEYS_PER_LIST,
        start_after: str | None = None,
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

    # --- multipart ------------------------------------------------------------

    async def create_multipart_upload(
        self, key: str, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> MultipartUpload:
        options = to_js_value(
            {"httpMetadata": {"contentType": content_type}, "customMetadata": dict(custom_metadata)}
        )
        upload = await self._bucket.createMultipartUpload(key, options)
        return MultipartUpload(str(upload.key), str(upload.uploadId))

    async def _resume(self, key: str, upload_id: str) -> Any:
        upload = self._bucket.resumeMultipartUpload(key, upload_id)
        return (await upload) if hasattr(upload, "then") else upload

    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | bytearray) -> UploadedPart:
        upload = await self._resume(key, upload_id)
        try:
            part = await upload.uploadPart(part_number, bytes_to_js(data))
        except Exception as exc:
            raise _multipart_error(exc) from exc
        return UploadedPart(int(part.partNumber), str(part.etag))

    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> BlobInfo:
        upload = await self._resume(key, upload_id)
        listed = to_js_value([{"partNumber": p.part_number, "etag": p.etag} for p in parts])
        try:
            obj = await upload.complete(listed)
        except Exception as exc:
            raise _multipart_error(exc) from exc
        return _info(obj)

    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        upload = await self._resume(key, upload_id)
        try:
            await upload.abort()
        except Exception as exc:
            raise _multipart_error(exc) from exc


def _multipart_error(exc: Exception) -> Exception:
    """R2's multipart errors as the port's; anything else as it was."""
    text = str(exc)
    if "10024" in text or "NoSuchUpload" in text or "upload does not exist" in text:
        return NoSuchUploadError(text)
    if "10025" in text or "InvalidPart" in text or "parts could not be found" in text:
        return InvalidPartError(text)
    if "10011" in text or "10048" in text or "EntityTooSmall" in text:
        return LimitExceededError(text)
    return exc
