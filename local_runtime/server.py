"""The local runtime's HTTP/1.1 server: uvicorn, on its public API, with the guards a public socket needs.

It plays workerd's part: turns bytes on a socket into ``HttpRequest`` and sends
``HttpResponse`` back, streaming an R2 object's file in chunks (with uvicorn's
flow control) rather than reading it into memory. The parser is httptools where
it is installed (uvicorn's ``http="httptools"``; measured in docs/benchmarks.md),
h11 otherwise. Where each guard lives, and why:

- uvicorn's settings (``uvicorn.Config``): the idle timeout between keep-alive
  requests (``timeout_keep_alive``), h11's head size (``h11_max_incomplete_event_size``),
  the backlog, no server or date header, no proxy headers (the ASGI scope's
  ``client`` is the socket's peer, which the connection guards match on);
- the ASGI side (``HttpServer._asgi``, below): the body's size (413 before reading
  when ``Content-Length`` says so, else as it arrives) and its time
  (``body_timeout`` from the end of the head: 408); ``Content-Length`` with
  ``Transfer-Encoding`` (RFC 9112 6.3: 400 and the connection closed, so nothing
  pipelined behind it is answered; httptools refuses it in its parser, h11 does
  not); the 503 JSON answer on a connection opened over the limit while every
  other was busy; a body sent in pieces stops when the client goes;
- the connection's asyncio events (``local_runtime/connection_guard.py``): the
  idle timeout from accept, the head's timeout (slowloris) and size, the
  connection limit (the oldest idle connection is closed to make room), the
  write timeout, answering a client that half-closed after its request, the
  JSON 400 for malformed HTTP, one socket write per response. uvicorn has no
  public setting for any of them (its ``limit_concurrency`` answers 503 in plain
  text and never closes an idle connection to make room), and ASGI sees a
  connection only once a head is parsed, so these need the protocol's callbacks:
  a mixin placed before uvicorn's protocol class, overriding asyncio's
  ``Protocol`` methods and uvicorn's ``send_400_response`` only. It is the one
  place that leans on uvicorn beyond its settings; the hardening tests
  (tests/integration/test_server_hardening.py, tests/unit/local_runtime/
  test_server_*.py) fail if a uvicorn release changes what it relies on.

The connection limit derives from the file limit (raised to its hard maximum at
start; ``connection_cap``), so the process never runs out of descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import importlib.util
import math
import os
import resource
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import uvicorn
import uvicorn.config
import uvicorn.importer

from local_runtime.bindings.r2 import LocalBlobHandle
from local_runtime.connection_guard import CHUNK, Connection, Connections, guarded_protocol
from shared.api.errors import ApiError
from shared.api.request_limits import body_too_large
from shared.config import LocalSettings
from shared.http import HttpRequest, HttpResponse

App = Callable[[HttpRequest], Awaitable[HttpResponse]]
Parser = Literal["httptools", "h11"]
PARSER: Parser = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
MAX_BODY_BYTES = 8 * 1024 * 1024  # when the app names no limit (tests serving a bare handler)
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


class HttpServer:
    def __init__(
        self, app: App, host: str, port: int, max_body_bytes: int = MAX_BODY_BYTES,
        limits: ServerLimits | None = None, parser: Parser = PARSER,
    ) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._max_body = max_body_bytes
        self.limits = limits or DEFAULT_LIMITS
        self.parser = parser
        self._connections = Connections(self.limits)
        self._server: uvicorn.Server | None = None
        self._trim: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        files = raise_file_limit()
        limits = replace(
            self.limits, max_connections=connection_cap(self.limits.max_connections, files, open_descriptors())
        )
        self.limits = limits
        self._connections = Connections(limits)
        # The class uvicorn would serve for http=<parser>, found the way uvicorn.Config finds it.
        base = uvicorn.importer.import_from_string(uvicorn.config.HTTP_PROTOCOLS[self.parser])
        config = uvicorn.Config(
            self._asgi, host=self.host, port=self.port, http=guarded_protocol(base, self._connections),
            lifespan="off", interface="asgi3", log_config=None, log_level="error", access_log=False,
            server_header=False, date_header=False, proxy_headers=False, backlog=BACKLOG, ws="none",
            timeout_keep_alive=max(1, math.ceil(limits.idle_timeout)), timeout_graceful_shutdown=2,
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
        conn = self._connections.request_started(scope.get("client"))
        try:
            if conn is not None and conn.refused:
                await self._send(scope, send, _too_many_connections(), close=True)
                return
            await self._request(scope, receive, send, conn)
        finally:
            if conn is not None:
                self._connections.request_ended(conn)

    async def _request(self, scope: dict[str, Any], receive: Any, send: Any, conn: Connection | None) -> None:
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
        try:
            async with asyncio.timeout(self.limits.body_timeout):
                more = True
                while more:
                    message = await self._connections.receive(conn, receive)
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    if len(body) > self._max_body:
                        break
                    more = message.get("more_body", False)
        except TimeoutError:
            await self._send(scope, send, ApiError(
                408, "request_timeout", "the request body was not sent in time").to_response(), close=True)
            return
        if len(body) > self._max_body:
            await self._send(scope, send, _too_large(self._max_body), close=True)
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        target = raw_path.decode("latin-1") + (f"?{scope['query_string'].decode('latin-1')}" if scope["query_string"] else "")
        # The links the API returns are built from the address this server was bound to (or
        # PUBLIC_BASE_URL), never from the client's Host header.
        request = HttpRequest.build(scope["method"], target, headers=headers, body=bytes(body), base_url=self.base_url)
        response = await self._app(request)
        if conn is not None:
            await self._send(scope, send, response, left=conn.is_lost)
            return
        # No connection guard to ask: the body is read, so receive() now answers only when the
        # client goes (http.disconnect).
        gone = asyncio.ensure_future(receive())
        try:
            await self._send(scope, send, response, left=gone.done)
        finally:
            gone.cancel()

    async def _send(
        self, scope: dict[str, Any], send: Any, response: HttpResponse, close: bool = False,
        left: Callable[[], bool] = lambda: False,
    ) -> None:
        handle = response.blob.raw if response.blob is not None else None
        try:
            await self._write(scope, send, response, close, left)
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
        self, scope: dict[str, Any], send: Any, response: HttpResponse, close: bool, left: Callable[[], bool],
    ) -> None:
        """Send ``response``; a body sent in pieces stops at the first piece after the client went (``left``)."""
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


def _too_many_connections() -> HttpResponse:
    return ApiError(503, "too_many_connections", "too many connections; retry shortly",
                    headers={"Retry-After": "1"}).to_response()
