"""Outbound HTTP of the local runtime, on httpx: provider calls and streamed deliveries.

``LocalHttpClient`` is ``shared.ports.HttpClient`` (a request whose body is
read whole, up to ``max_response_bytes``); ``LocalStreamUploader`` is
``shared.ports.StreamUploader`` (a PUT streamed from a blob with its
``Content-Length`` given up front, so memory stays at one piece whatever the
audio's size; its response is read for the status only).

The rules both keep, as a Worker's ``fetch`` would:
- each call is one subrequest of the invocation (``local_runtime.limits``);
- ``timeout`` bounds connect, send and the whole response;
- redirects are not followed, proxies from the environment are not used
  (set a provider's base URL to reach one), ``Accept-Encoding: identity``
  unless the caller asks otherwise, so the byte limit counts what was sent;
- a client per call: provider calls are seconds long and few, so a pool would
  buy nothing, and a pooled client is bound to one event loop;
- every transport failure is an ``HttpConnectionError`` and every timeout an
  ``HttpTimeoutError`` (``shared.errors``); an error status is a response.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from local_runtime import limits
from shared.delivery import MAX_RESPONSE_BYTES, PIECE_BYTES
from shared.errors import HttpConnectionError, HttpTimeoutError
from shared.ports import HTTP_MAX_RESPONSE_BYTES, BlobBody, HttpClientResponse

USER_AGENT = "tts-pipeline/0.1 (local runtime)"
DELIVERY_USER_AGENT = "tts-pipeline-delivery/1"
_FRAMING = ("host", "content-length", "connection", "transfer-encoding")


def _checked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise HttpConnectionError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


@asynccontextmanager
async def _client(ssl_context: ssl.SSLContext | None, timeout: float, what: str) -> AsyncIterator[httpx.AsyncClient]:
    """One client for one call; ``what`` names the call in errors (never its query or headers)."""
    try:
        async with asyncio.timeout(timeout):
            async with httpx.AsyncClient(
                verify=ssl_context or True, trust_env=False, follow_redirects=False, timeout=timeout
            ) as client:
                yield client
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise HttpTimeoutError(f"{what}: no response within {timeout:g} s") from exc
    except (httpx.TransportError, OSError, ssl.SSLError) as exc:
        raise HttpConnectionError(f"{what}: {type(exc).__name__}: {exc}") from exc


class LocalHttpClient:
    """Outbound HTTP/1.1 requests from the local runtime (and tests), bodies read whole."""

    def __init__(self, *, max_response_bytes: int = HTTP_MAX_RESPONSE_BYTES, ssl_context: ssl.SSLContext | None = None) -> None:
        self._max = max_response_bytes
        self._ssl = ssl_context

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpClientResponse:
        named = _checked_url(url)
        limits.subrequest()  # a fetch: one subrequest of the invocation, its bodies payloads of it
        limits.payload(len(body or b""))
        sent = {k: v for k, v in headers.items() if k.lower() not in _FRAMING}
        names = {k.lower() for k in sent}
        if "user-agent" not in names:
            sent["User-Agent"] = USER_AGENT
        if "accept-encoding" not in names:
            sent["Accept-Encoding"] = "identity"
        if body is None and method.upper() in ("POST", "PUT", "PATCH"):
            body = b""
        async with _client(self._ssl, timeout, f"{method} {named}") as client:
            async with client.stream(method.upper(), url, headers=sent, content=body) as response:
                response_headers = {name: response.headers[name] for name in response.headers.keys()}
                declared = response_headers.get("content-length", "")
                if declared.isdigit() and int(declared) > self._max:
                    raise HttpConnectionError(f"response of {declared} bytes is over the {self._max}-byte limit")
                chunks: list[bytes] = []
                size = 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > self._max:
                        raise HttpConnectionError(f"response is over the {self._max}-byte limit")
                    chunks.append(chunk)
        limits.payload(size)
        return HttpClientResponse(status=response.status_code, headers=response_headers, body=b"".join(chunks))


async def _exactly(body: BlobBody, length: int) -> AsyncIterator[bytes]:
    """The blob's pieces, refused the moment they run past ``length`` or end short of it."""
    sent = 0
    async for piece in body.pieces(PIECE_BYTES):
        sent += len(piece)
        if sent > length:
            raise HttpConnectionError(f"PUT: the body runs past its length of {length} bytes")
        yield piece
    if sent != length:
        raise HttpConnectionError(f"PUT: the body ended at {sent} of its {length} bytes")


class LocalStreamUploader:
    """Outbound streamed PUTs from the local runtime (and tests).

    A body that ends short of, or runs past, its length is an
    ``HttpConnectionError``, raised before the request is complete, so the
    receiver never takes a short body for the whole one.
    """

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context

    async def put(
        self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float
    ) -> int:
        _checked_url(url)
        limits.subrequest()  # a fetch: one subrequest of the invocation
        sent = {k: v for k, v in headers.items() if k.lower() not in (*_FRAMING, "user-agent")}
        sent["User-Agent"] = DELIVERY_USER_AGENT
        sent["Content-Length"] = str(length)
        # The message names neither host nor path: the caller scrubs, but nothing here needs them.
        async with _client(self._ssl, timeout, "PUT") as client:
            async with client.stream("PUT", url, headers=sent, content=_exactly(body, length)) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read > MAX_RESPONSE_BYTES:
                        break  # enough: only the status matters
                return response.status_code
