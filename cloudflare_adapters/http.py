"""JS ``Request`` -> ``HttpRequest`` and ``HttpResponse`` -> JS ``Response``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from cloudflare_adapters.convert import array_buffer_to_bytes, bytes_to_js, to_js_value
from js import ReadableStream, Response
from pyodide.ffi import create_proxy
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
    if response.stream is not None:
        return Response.new(readable_stream(response.stream), init)
    if response.blob is not None:
        # The R2 object's ReadableStream goes straight to the client: the
        # audio bytes never enter Python's heap.
        return Response.new(response.blob.raw, init)
    return Response.new(bytes_to_js(response.body), init)


def readable_stream(blocks: AsyncIterator[bytes]) -> Any:
    """A JS ``ReadableStream`` pulled from ``blocks``: the Response body of ``HttpResponse.stream``.

    The pattern of the Workers SDK's own streamed WSGI bodies (workers-py
    ``workers/wsgi.py``, ``_make_streaming_response``): an async ``pull``
    proxy that the stream calls when its reader wants more, inside the
    request that returned the Response (so the shard stubs and R2 reads it
    makes belong to that request), and a ``cancel`` when the client goes
    away. Each block is copied into a JS-owned ``Uint8Array`` (``bytes_to_js``):
    the stream keeps it after Python has let it go. The proxies are destroyed
    once the stream ends, errs or is canceled.
    """
    iterator = blocks.__aiter__()
    proxies: list[Any] = []

    def done() -> None:
        for proxy in proxies:
            proxy.destroy()
        proxies.clear()

    async def pull(controller: Any) -> None:
        try:
            block = await iterator.__anext__()
        except StopAsyncIteration:
            controller.close()
            done()
            return
        except Exception as exc:  # noqa: BLE001 - ends the body; the client sees it cut short
            controller.error(str(exc))
            done()
            return
        controller.enqueue(bytes_to_js(block))

    async def cancel(_reason: Any = None) -> None:
        try:
            await iterator.aclose()  # type: ignore[attr-defined]  # the body is an async generator; its type says AsyncIterator
        finally:
            done()

    pull_proxy, cancel_proxy = create_proxy(pull), create_proxy(cancel)
    proxies.extend([pull_proxy, cancel_proxy])
    return ReadableStream.new(pull=pull_proxy, cancel=cancel_proxy)
