"""JS ``Request`` -> ``HttpRequest`` and ``HttpResponse`` -> JS ``Response``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from cloudflare_adapters.convert import array_buffer_to_bytes, bytes_to_js, to_js_value
from js import Response  # type: ignore[import-not-found]
from shared.api.request_limits import body_too_large
from shared.http import HttpRequest, HttpResponse


async def to_http_request(js_request: Any, max_body_bytes: int | None = None) -> HttpRequest:
    """Raises the 413 ``ApiError`` before reading a body whose Content-Length is over ``max_body_bytes``
    (a Worker has 128 MB; an oversized upload must not be copied into Python first)."""
    raw = getattr(js_request, "js_object", js_request)
    url = urlsplit(str(raw.url))
    headers = [(str(k), str(v)) for k, v in raw.headers.entries()]
    method = str(raw.method)
    declared = next((v for k, v in headers if k.lower() == "content-length"), "")
    if max_body_bytes is not None and declared.isdigit() and int(declared) > max_body_bytes:
        # Say we will not read it: a body left pending under an early answer
        # broke the connection in workerd ("Network connection lost", a 500).
        if raw.body is not None:
            await raw.body.cancel()
        raise body_too_large(max_body_bytes)
    body = b"" if method in ("GET", "HEAD") else await array_buffer_to_bytes(raw.arrayBuffer())
    target = url.path + (f"?{url.query}" if url.query else "")
    return HttpRequest.build(method, target, headers=headers, body=body, base_url=f"{url.scheme}://{url.netloc}")


def to_js_response(response: HttpResponse) -> Any:
    init = to_js_value({"status": response.status, "headers": dict(response.headers.items())})
    if response.status in (204, 304):
        return Response.new(None, init)
    if response.blob is not None:
        # The R2 object's ReadableStream goes straight to the client: the
        # audio bytes never enter Python's heap.
        return Response.new(response.blob.raw, init)
    return Response.new(bytes_to_js(response.body), init)
