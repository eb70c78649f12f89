"""Runtime-neutral HTTP request and response.

The api Worker's entry module turns a JS ``Request`` into an ``HttpRequest``
and an ``HttpResponse`` back into a JS ``Response``; the local runtime does
the same with its own server. A response whose ``blob`` is set streams an
R2 object (``blob.raw``) without copying it through Python; one whose
``stream`` is set sends its blocks as they come.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from shared.ports import BlobBody


class Headers:
    """Case-insensitive header mapping (single value per name is enough here)."""

    def __init__(self, items: Mapping[str, str] | list[tuple[str, str]] | None = None) -> None:
        self._items: dict[str, tuple[str, str]] = {}
        if items is None:
            return
        pairs = items.items() if isinstance(items, Mapping) else items
        for name, value in pairs:
            self[name] = value

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __setitem__(self, name: str, value: str) -> None:
        self._items[name.lower()] = (name, value)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def get(self, name: str, default: str | None = None) -> str | None:
        item = self._items.get(name.lower())
        return item[1] if item else default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items.values())

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"


@dataclass
class HttpRequest:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""
    base_url: str = ""  # scheme://host, for absolute links

    @classmethod
    def build(
        cls,
        method: str,
        url_path: str,
        *,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
        body: bytes = b"",
        base_url: str = "",
    ) -> HttpRequest:
        path, _, query = url_path.partition("?")
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(query, keep_blank_values=True),
            headers=Headers(headers),
            body=body,
            base_url=base_url,
        )

    def query_param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class HttpResponse:
    status: int
    headers: Headers = field(default_factory=Headers)
    body: bytes | bytearray = b""  # bytearray: a large body built in place (legacy /result)
    blob: BlobBody | None = None  # stream this R2 object instead of body
    # or send these bytes as they come (chunked transfer, no Content-Length): audio while it is made
    stream: AsyncIterator[bytes] | None = None

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> HttpResponse:
        out = Headers(headers)
        out["Content-Type"] = "application/json"
        return cls(status=status, headers=out, body=json.dumps(data, separators=(",", ":")).encode())

    @classmethod
    def empty(cls, status: int, headers: Mapping[str, str] | None = None) -> HttpResponse:
        return cls(status=status, headers=Headers(headers))
