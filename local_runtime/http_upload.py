"""``shared.delivery.StreamUploader`` for the local runtime: a PUT streamed from a blob, with h11.

The body goes out in the pieces the blob yields (``shared.delivery.PIECE_BYTES``)
with a ``Content-Length`` given up front, so memory stays at one piece
whatever the audio's size. A body that ends short of, or runs past, its
length is an ``HttpConnectionError`` (h11 refuses to frame it). The
response is read for its status only, up to ``shared.delivery.MAX_RESPONSE_BYTES``;
redirects are not followed. One connection per upload (``Connection: close``).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from urllib.parse import urlsplit

import h11

from local_runtime import limits
from shared.delivery import MAX_RESPONSE_BYTES, PIECE_BYTES
from shared.errors import HttpConnectionError, HttpTimeoutError
from shared.ports import BlobBody

USER_AGENT = "tts-pipeline-delivery/1"
_READ = 64 * 1024
_FRAMING = ("host", "content-length", "connection", "transfer-encoding", "user-agent")


class LocalStreamUploader:
    """Outbound streamed PUTs from the local runtime (and tests)."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context

    async def put(
        self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float
    ) -> int:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpConnectionError("not an http(s) URL")
        limits.subrequest()  # a fetch: one subrequest of the invocation
        try:
            async with asyncio.timeout(timeout):
                return await self._exchange(parts.scheme == "https", parts.hostname, parts.port, parts.netloc,
                                            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                                            headers, body, length)
        except TimeoutError as exc:
            raise HttpTimeoutError(f"PUT: no response within {timeout:g} s") from exc
        except (OSError, ssl.SSLError, h11.ProtocolError, h11.LocalProtocolError, asyncio.IncompleteReadError) as exc:
            # The message names neither host nor path: the caller scrubs, but nothing here needs them.
            raise HttpConnectionError(f"PUT: {type(exc).__name__}: {exc}") from exc

    async def _exchange(
        self, secure: bool, host: str, port: int | None, netloc: str, target: str,
        headers: Mapping[str, str], body: BlobBody, length: int,
    ) -> int:
        context = (self._ssl or ssl.create_default_context()) if secure else None
        reader, writer = await asyncio.open_connection(
            host, port or (443 if secure else 80), ssl=context, server_hostname=host if secure else None
        )
        try:
            conn = h11.Connection(our_role=h11.CLIENT)
            request_headers = [("Host", netloc.rsplit("@", 1)[-1]), ("User-Agent", USER_AGENT)]
            request_headers += [(k, v) for k, v in headers.items() if k.lower() not in _FRAMING]
            request_headers += [("Content-Length", str(length)), ("Connection", "close")]
            writer.write(conn.send(h11.Request(method="PUT", target=target, headers=request_headers)))
            async for piece in body.pieces(PIECE_BYTES):
                writer.write(conn.send(h11.Data(data=piece)))
                await writer.drain()  # one piece in flight: memory stays bounded
            writer.write(conn.send(h11.EndOfMessage()))  # raises when fewer bytes than announced were sent
            await writer.drain()
            return await _status(conn, reader)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass


async def _status(conn: h11.Connection, reader: asyncio.StreamReader) -> int:
    status = 0
    read = 0
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
            continue
        if isinstance(event, h11.Data):
            read += len(event.data)
            if read > MAX_RESPONSE_BYTES:
                return status  # enough: only the status matters
            continue
        if isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
            if not status:
                raise HttpConnectionError("connection closed before a response")
            return status
