"""The local runtime's HTTP/1.1 server: uvicorn (h11) with the guards a public socket needs.

It plays workerd's part: turns bytes on a socket into ``HttpRequest`` and sends
``HttpResponse`` back, streaming an R2 object's file in chunks (with uvicorn's
flow control) rather than reading it into memory. On top of uvicorn:

- an idle timeout from accept and between keep-alive requests (uvicorn only
  arms one after a response), a header timeout from a request's first byte
  that more bytes do not extend (slowloris), and a body timeout from the end
  of the head: 408 JSON and the connection closed;
- a connection limit derived from the file limit (raised to its hard maximum
  at start; ``connection_cap``): at the limit the oldest connection without a
  request in progress is closed to make room, and only when every connection
  is busy does the new one get a 503 JSON answer, so idle or half-open sockets
  never starve a request, and the process never runs out of descriptors;
- ``Content-Length`` with ``Transfer-Encoding`` (RFC 9112 6.3): 400 and the
  connection closed, so nothing pipelined behind it is answered;
- malformed HTTP: a JSON 400 (uvicorn's own is text);
- a client that half-closes its side after sending a request still gets the
  answer (uvicorn would close the connection at the EOF);
- a write timeout: a response the client has not taken anything of for
  ``write_timeout`` (its socket buffer full all along) is cut off and the
  connection aborted; a body sent in pieces stops when the client goes, so a
  client that does not read holds neither memory nor an R2 file for long;
- one write per response: uvicorn writes the head, each body piece and the
  end of the message separately (a system call each); ``_CoalescingTransport``
  joins what one turn of the event loop writes, so a JSON answer leaves in one
  write and a streamed file in ``CHUNK``-sized ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import resource
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from local_runtime.bindings.r2 import LocalBlobHandle
from shared.api.errors import ApiError
from shared.api.request_limits import body_too_large
from shared.config import LocalSettings
from shared.http import HttpRequest, HttpResponse

App = Callable[[HttpRequest], Awaitable[HttpResponse]]
MAX_BODY_BYTES = 8 * 1024 * 1024  # when the app names no limit (tests serving a bare handler)
CHUNK = 256 * 1024
BACKLOG = 128
ACCEPT_BURST = 2 * BACKLOG
"""Descriptors taken before the connection limit can act: asyncio accepts up to ``BACKLOG``
connections in one go before any of them is counted, and a connection closed to make room
keeps its descriptor until the loop's next turn."""
FD_HEADROOM = 128
"""Descriptors kept for what opens later: shard databases, SQLite's journals, DNS, pipes."""
FD_PER_CONNECTION = 2  # its socket, and the R2 object file it may be sending


def open_descriptors() -> int:
    """How many files this process has open now (Linux; elsewhere a guess)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 64


def connection_cap(configured: int, file_limit: int, open_now: int) -> int:
    """The most connections served at once: ``HTTP_MAX_CONNECTIONS``, lowered so that every
    connection sending a file, plus an accept burst and headroom, fits under the file limit."""
    room = file_limit - open_now - ACCEPT_BURST - FD_HEADROOM
    return max(1, min(configured, room // FD_PER_CONNECTION))


@dataclass(frozen=True)
class ServerLimits:
    """The HTTP_* rows of ``shared.config.LocalSettings``, where their defaults and meaning are."""

    idle_timeout: float
    header_timeout: float
    body_timeout: float
    max_connections: int  # lowered to fit the file limit (connection_cap)
    write_timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: LocalSettings) -> ServerLimits:
        return cls(
            idle_timeout=settings.http_idle_timeout_seconds,
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
            max_connections=settings.http_max_connections,
            write_timeout=settings.http_write_timeout_seconds,
        )


DEFAULT_LIMITS = ServerLimits.from_settings(LocalSettings())


def raise_file_limit() -> int:
    """Raise this process's soft file limit to its hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft if soft != resource.RLIM_INFINITY else 65536


TRIM_DELAY_SECONDS = 1.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where there is none (musl, macOS)."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def trim_heap() -> None:
    """Hand the C heap's free pages back to the system. A body sent in pieces allocates and frees
    many 64-256 KiB buffers between other allocations; glibc keeps the holes they leave, so after
    many stalled streams the process would stay at its peak size for good."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


_REQUEST_TIMEOUT = _raw_error(408, "Request Timeout", "request_timeout", "the request was not sent in time")
_UNAVAILABLE = _raw_error(503, "Service Unavailable", "too_many_connections", "too many connections; retry shortly")


class _CoalescingTransport:
    """The connection's transport, with the writes of one event-loop turn joined into one.

    What is written is held until the loop's next turn (``call_soon``), or
    sent at once when ``CHUNK`` bytes are waiting; ``close`` sends what is
    held first, ``abort`` drops it. Everything else is the real transport's.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0
        self._scheduled = False
        self.socket_writes = 0  # writes handed to the real transport (tests read it)

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= CHUNK:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending, self._size = [], 0
        if not self._transport.is_closing():
            self.socket_writes += 1
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._size = [], 0
        self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _GuardedProtocol(H11Protocol):
    """uvicorn's h11 protocol with idle and header timeouts and the connection limit."""

    limits: ServerLimits = DEFAULT_LIMITS

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn declares BaseTransport
        super().connection_made(_CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]  # a Transport by duck typing
        self._idle_since = time.monotonic()
        self._header_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        if len(self.connections) > self.limits.max_connections and not self._evict_one():
            # Every connection has a request in progress: answer this one 503 at its first
            # request (closing now could reset the request before the answer is read).
            self.app = _service_unavailable
        self.timeout_keep_alive_task = self.loop.call_later(self.limits.idle_timeout, self.timeout_keep_alive_handler)

    def _busy(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _evict_one(self) -> bool:
        # Not one already closing (it keeps its descriptor until the loop's next turn): picking it
        # again would make no room at all.
        idle = [c for c in self.connections if isinstance(c, _GuardedProtocol) and c is not self
                and not c._busy() and not c.transport.is_closing()]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c._idle_since)
        oldest.transport.abort()
        return True

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE and self._header_timer is None:
            # A request's first byte: its head has header_timeout from now, however it trickles.
            self._header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timed_out)
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE and self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def eof_received(self) -> bool | None:  # type: ignore[override]  # uvicorn declares None; asyncio allows bool
        # A client that half-closes after sending its whole request (shutdown(SHUT_WR)) still gets
        # its answer: keep the transport open for writing, and close it once the response is sent.
        # One that leaves with a request half sent, or none at all, is closed now.
        if self.cycle is not None and not self.cycle.response_complete and self.conn.their_state is h11.DONE:
            self.cycle.keep_alive = False
            return True
        return None

    def on_response_complete(self) -> None:
        self._idle_since = time.monotonic()
        super().on_response_complete()

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

    def pause_writing(self) -> None:
        # The socket's buffer is full: the client is not reading. If it does not take anything
        # for write_timeout, the connection is cut (a stream to it holds memory and a file).
        super().pause_writing()
        if self._write_timer is None:
            self._write_timer = self.loop.call_later(self.limits.write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _write_timed_out(self) -> None:
        self._write_timer = None
        # Reset, not closed: close() would wait for the buffer to drain, which it never does, and
        # even an aborted socket keeps its unsent bytes in the kernel; linger 0 drops them too.
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._header_timer, self._write_timer):
            if timer is not None:
                timer.cancel()
        self._header_timer = self._write_timer = None
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_raw_error(400, "Bad Request", "bad_request", "malformed HTTP request"))
        self.transport.close()


async def _service_unavailable(scope: Any, receive: Any, send: Any) -> None:
    body = _UNAVAILABLE.split(b"\r\n\r\n", 1)[1]
    await send({"type": "http.response.start", "status": 503, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


class HttpServer:
    def __init__(
        self, app: App, host: str, port: int, max_body_bytes: int = MAX_BODY_BYTES,
        limits: ServerLimits | None = None,
    ) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._max_body = max_body_bytes
        self.limits = limits or DEFAULT_LIMITS
        self._server: uvicorn.Server | None = None
        self._trim: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        files = raise_file_limit()
        limits = replace(
            self.limits, max_connections=connection_cap(self.limits.max_connections, files, open_descriptors())
        )
        self.limits = limits
        protocol = type("GuardedProtocol", (_GuardedProtocol,), {"limits": limits})
        config = uvicorn.Config(
            self._asgi, host=self.host, port=self.port, http=protocol, lifespan="off", interface="asgi3", log_config=None,
            log_level="error", access_log=False, server_header=False, date_header=False, backlog=BACKLOG,
            timeout_keep_alive=int(max(1, limits.idle_timeout)), timeout_graceful_shutdown=2,
            h11_max_incomplete_event_size=64 * 1024,
        )
        config.load()
        self._server = uvicorn.Server(config)
        # Server.serve() would take over SIGINT/SIGTERM (the CLI owns them): run its
        # startup step alone, which needs the lifespan serve() would have made ("off").
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup()
        if not self._server.started:
            raise OSError(f"could not listen on {self.host}:{self.port}")
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        """``http://`` and the address this server is bound to (IPv6 in brackets)."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"

    async def stop(self) -> None:
        if self._trim is not None:
            self._trim.cancel()
            self._trim = None
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.shutdown(), 5)
            self._server = None

    # --- ASGI -> HttpRequest -> app -> HttpResponse -> ASGI --------------------

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        names = {k.lower() for k, _ in headers}
        if "transfer-encoding" in names and "content-length" in names:
            # RFC 9112 6.3: a smuggling shape; answer it and close, so nothing behind it is read.
            await self._send(scope, send, ApiError(
                400, "bad_request", "Content-Length and Transfer-Encoding together are not accepted").to_response(),
                close=True)
            return
        declared = next((v for k, v in headers if k.lower() == "content-length"), "")
        if declared.isdigit() and int(declared) > self._max_body:
            await self._send(scope, send, _too_large(self._max_body), close=True)
            return
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + self.limits.body_timeout
        more = True
        while more:
            remaining = deadline - asyncio.get_running_loop().time()
            try:
                message = await asyncio.wait_for(receive(), max(remaining, 0))
            except asyncio.TimeoutError:
                await self._send(scope, send, ApiError(
                    408, "request_timeout", "the request body was not sent in time").to_response(), close=True)
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self._max_body:
                await self._send(scope, send, _too_large(self._max_body), close=True)
                return
            more = message.get("more_body", False)
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.decode("latin-1") + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        # The links the API returns are built from the address this server was bound to (or
        # PUBLIC_BASE_URL), never from the client's Host header.
        request = HttpRequest.build(scope["method"], target, headers=headers, body=bytes(body), base_url=self.base_url)
        response = await self._app(request)
        # The body is read: receive() now answers only when the client goes (http.disconnect).
        gone = asyncio.ensure_future(receive())
        try:
            await self._send(scope, send, response, gone=gone)
        finally:
            gone.cancel()

    async def _send(
        self, scope: dict[str, Any], send: Any, response: HttpResponse, close: bool = False,
        gone: asyncio.Future[Any] | None = None,
    ) -> None:
        handle = response.blob.raw if response.blob is not None else None
        try:
            await self._write(scope, send, response, close, gone)
        finally:
            # The R2 file was opened at get(): close it whether or not its bytes were sent.
            if isinstance(handle, LocalBlobHandle):
                handle.close()
            if response.stream is not None and hasattr(response.stream, "aclose"):
                await response.stream.aclose()  # a stream cut short lets its R2 reads and waits go now
            if response.stream is not None or response.blob is not None:
                self._schedule_trim()

    def _schedule_trim(self) -> None:
        """``trim_heap`` once a second at most, after bodies sent in pieces ended."""
        if self._trim is None:
            self._trim = asyncio.get_running_loop().call_later(TRIM_DELAY_SECONDS, self._run_trim)

    def _run_trim(self) -> None:
        self._trim = None
        trim_heap()

    async def _write(
        self, scope: dict[str, Any], send: Any, response: HttpResponse, close: bool,
        gone: asyncio.Future[Any] | None = None,
    ) -> None:
        """Send ``response``; a body sent in pieces stops at the first piece after the client went."""

        def left() -> bool:
            return gone is not None and gone.done()

        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()]
        no_body = scope["method"] == "HEAD" or response.status in (204, 304)
        if (response.blob is None and response.stream is None and "content-length" not in response.headers
                and response.status not in (204, 304)):
            headers.append((b"content-length", str(len(response.body)).encode()))
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        if no_body:
            await send({"type": "http.response.body", "body": b""})
            return
        if response.stream is not None:
            # No Content-Length: uvicorn sends it chunked, each block as it comes; its send waits
            # while the socket is full, so a block is produced only once the one before has gone.
            async for block in response.stream:
                if left():
                    return
                if block:
                    await send({"type": "http.response.body", "body": block, "more_body": True})
        elif response.blob is not None:
            handle = response.blob.raw
            if isinstance(handle, LocalBlobHandle):
                for chunk in handle.chunks(CHUNK):  # uvicorn's send waits while the socket is full
                    if left():
                        return
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": await response.blob.read(), "more_body": True})
        elif len(response.body) <= CHUNK:
            # One message: the transport sends it with the head in one write.
            await send({"type": "http.response.body", "body": response.body})
            return
        else:  # big: in pieces, so uvicorn's flow control paces them (no second copy in the socket buffer)
            body = memoryview(response.body)
            for start in range(0, len(body), CHUNK):
                await send({"type": "http.response.body", "body": bytes(body[start : start + CHUNK]), "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _too_large(limit: int) -> HttpResponse:
    return body_too_large(limit).to_response()
