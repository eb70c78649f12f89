"""``shared.ports.HttpClient`` for the local runtime: asyncio streams plus h11.

One connection per request (``Connection: close``): provider calls are
seconds long and few, so pooling would buy nothing and cost state. TLS uses
the system's default trust store; ``timeout`` bounds connect, send and the
whole response; bodies are read in full up to ``max_response_bytes``.
No proxy support: set the provider's base URL to reach one.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import SplitResult, urlsplit

import h11

from local_runtime import limits
from shared.errors import HttpConnectionError, HttpTimeoutError
from shared.ports import HTTP_MAX_RESPONSE_BYTES, HttpClientResponse

USER_AGENT = "tts-pipeline/0.1 (local runtime)"
_READ = 64 * 1024


class LocalHttpClient:
    """Outbound HTTP/1.1 from the local runtime (and tests)."""

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
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpConnectionError(f"not an http(s) URL: {parts.scheme}://{parts.hostname or ''}")
        limits.subrequest()  # a fetch: one subrequest of the invocation, its bodies payloads of it
        limits.payload(len(body or b""))
        try:
            async with asyncio.timeout(timeout):
                response = await self._exchange(method, parts, headers, body)
                limits.payload(len(response.body))
                return response
        except TimeoutError as exc:
            raise HttpTimeoutError(f"{method} {parts.scheme}://{parts.netloc}{parts.path}: no response within {timeout:g} s") from exc
        except (OSError, ssl.SSLError, h11.ProtocolError, asyncio.IncompleteReadError) as exc:
            raise HttpConnectionError(f"{method} {parts.scheme}://{parts.netloc}{parts.path}: {type(exc).__name__}: {exc}") from exc

    async def _exchange(
        self, method: str, parts: SplitResult, headers: Mapping[str, str], body: bytes | None
    ) -> HttpClientResponse:
        secure = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if secure else 80)
        context = (self._ssl or ssl.create_default_context()) if secure else None
        reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname=host if secure else None)
        try:
            conn = h11.Connection(our_role=h11.CLIENT)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            names = {k.lower() for k in headers}
            request_headers = [("Host", parts.netloc.rsplit("@", 1)[-1])]
            request_headers += [(k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length", "connection")]
            if "user-agent" not in names:
                request_headers.append(("User-Agent", USER_AGENT))
            if "accept-encoding" not in names:
                request_headers.append(("Accept-Encoding", "identity"))
            request_headers.append(("Connection", "close"))
            payload = body or b""
            if body is not None or method.upper() in ("POST", "PUT", "PATCH"):
                request_headers.append(("Content-Length", str(len(payload))))
            writer.write(conn.send(h11.Request(method=method.upper(), target=target, headers=request_headers)))
            if payload:
                writer.write(conn.send(h11.Data(data=payload)))
            writer.write(conn.send(h11.EndOfMessage()))
            await writer.drain()
            return await self._response(conn, reader)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    async def _response(self, conn: h11.Connection, reader: asyncio.StreamReader) -> HttpClientResponse:
        status = 0
        headers: dict[str, str] = {}
        chunks: list[bytes] = []
        size = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ)
                conn.receive_data(data)  # b"" tells h11 the peer closed
                continue
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                for name, value in event.headers:
                    key = name.decode("latin-1").lower()
                    text = value.decode("latin-1")
                    headers[key] = f"{headers[key]}, {text}" if key in headers else text
                declared = headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > self._max:
                    raise HttpConnectionError(f"response of {declared} bytes is over the {self._max}-byte limit")
                continue
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > self._max:
                    raise HttpConnectionError(f"response is over the {self._max}-byte limit")
                chunks.append(bytes(event.data))
                continue
            if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                if not status:
                    raise HttpConnectionError("connection closed before a response")
                return HttpClientResponse(status=status, headers=headers, body=b"".join(chunks))
