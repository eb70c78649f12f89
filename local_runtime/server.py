"""A small asyncio HTTP/1.1 server (h11 does the parsing) for the local runtime.

It plays workerd's part: turns bytes on a socket into ``HttpRequest`` and
sends ``HttpResponse`` back, streaming an R2 object's file in chunks rather
than reading it into memory.
"""

from __future__ import annotations

import asyncio
import contextlib
from http import HTTPStatus
from collections.abc import Awaitable, Callable

import h11

from local_runtime.bindings.r2 import LocalBlobHandle
from shared.api.errors import ApiError
from shared.http import HttpRequest, HttpResponse

_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
App = Callable[[HttpRequest], Awaitable[HttpResponse]]
MAX_BODY_BYTES = 8 * 1024 * 1024
CHUNK = 256 * 1024


class HttpServer:
    def __init__(self, app: App, host: str, port: int, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._max_body = max_body_bytes
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, reuse_address=True)
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while True:
                request = await self._read_request(conn, reader, writer)
                if request is None:
                    break
                response = await self._app(request)
                await self._send(conn, writer, request, response)
                if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                    break
                try:
                    conn.start_next_cycle()
                except h11.LocalProtocolError:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, h11.ProtocolError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()
                await writer.wait_closed()

    async def _next_event(self, conn: h11.Connection, reader: asyncio.StreamReader) -> object:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(CHUNK)
                conn.receive_data(data)
                continue
            return event

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> HttpRequest | None:
        try:
            event = await self._next_event(conn, reader)
        except h11.RemoteProtocolError:
            await self._send_raw_error(conn, writer, ApiError(400, "bad_request", "malformed HTTP request"))
            return None
        if not isinstance(event, h11.Request):
            return None
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers]
        body = bytearray()
        too_large = False
        while True:
            part = await self._next_event(conn, reader)
            if isinstance(part, h11.Data):
                if len(body) + len(part.data) > self._max_body:
                    too_large = True
                else:
                    body += part.data
            elif isinstance(part, h11.EndOfMessage):
                break
            else:
                return None
        if too_large:
            await self._send(conn, writer, None, ApiError(413, "body_too_large", "request body too large").to_response())
            return None
        host = next((v for k, v in headers if k.lower() == "host"), f"{self.host}:{self.port}")
        return HttpRequest.build(
            event.method.decode("ascii", "replace"),
            event.target.decode("latin-1"),
            headers=headers,
            body=bytes(body),
            base_url=f"http://{host}",
        )

    async def _send_raw_error(self, conn: h11.Connection, writer: asyncio.StreamWriter, error: ApiError) -> None:
        with contextlib.suppress(h11.LocalProtocolError):
            await self._send(conn, writer, None, error.to_response())

    async def _send(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: HttpRequest | None, response: HttpResponse
    ) -> None:
        handle = response.blob.raw if response.blob is not None else None
        try:
            await self._write(conn, writer, request, response)
        finally:
            # The R2 file was opened at get(): close it whether or not its bytes were sent.
            if isinstance(handle, LocalBlobHandle):
                handle.close()

    async def _write(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: HttpRequest | None, response: HttpResponse
    ) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        is_head = request is not None and request.method == "HEAD"
        if response.blob is None and "content-length" not in response.headers and response.status not in (204, 304):
            headers.append((b"Content-Length", str(len(response.body)).encode()))
        reason = _REASONS.get(response.status, b"")
        writer.write(conn.send(h11.Response(status_code=response.status, headers=headers, reason=reason)))
        if not is_head and response.status not in (204, 304):
            if response.blob is not None:
                handle = response.blob.raw
                if isinstance(handle, LocalBlobHandle):
                    for chunk in handle.chunks(CHUNK):
                        writer.write(conn.send(h11.Data(data=chunk)))
                        await writer.drain()
                else:
                    writer.write(conn.send(h11.Data(data=await response.blob.read())))
            elif response.body:
                # In pieces: one write of a large body would be copied whole by h11's
                # join and again into the transport's buffer.
                body = memoryview(response.body)
                for start in range(0, len(body), CHUNK):
                    writer.write(conn.send(h11.Data(data=body[start : start + CHUNK])))
                    if start + CHUNK < len(body):
                        await writer.drain()
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
