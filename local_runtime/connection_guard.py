"""The local server's connection-level guards: what happens on a socket before and around a request.

uvicorn's public settings cover a keep-alive timeout and a concurrency cap that answers
503 in plain text; it has no timer from accept or on a request's head, no way to close an
idle connection to make room, no write timeout, no answer for a client that half-closes,
and its malformed-HTTP answer is plain text. Those need the connection's own events, which
only the connection's asyncio protocol sees, so they live here as ``GuardMixin``, mixed in
before uvicorn's protocol class (``guarded_protocol``). The mixin overrides only asyncio's
``Protocol`` callbacks (``connection_made``, ``data_received``, ``eof_received``,
``pause_writing``, ``resume_writing``, ``connection_lost``), always calling uvicorn's
after its own work, plus uvicorn's ``send_400_response`` hook (the one name it shares with
uvicorn beyond asyncio's contract); it reads no uvicorn attribute. Whether a request is in
progress comes from the ASGI side (``Connections.request_started`` / ``request_ended``,
called by ``local_runtime/server.py``), matched to the connection by the peer address that
uvicorn puts in the ASGI scope's ``client``.

The guards, per connection:

- idle from accept: closed after ``idle_timeout`` if no byte arrives (uvicorn's
  ``timeout_keep_alive`` covers the time between requests);
- a head's time: ``header_timeout`` from a request's first byte until its ASGI call
  starts, however the bytes trickle (slowloris): 408 JSON, then closed;
- a head's size: more than ``MAX_HEAD_BYTES`` received while no request is in progress:
  431 JSON, then closed (httptools has no head limit of its own);
- the connection limit: over ``max_connections`` the oldest connection without a request
  in progress is aborted; when every one is busy the new one is answered 503 JSON at its
  first request (``Connection.refused``, answered by the server's ASGI side);
- a write timeout: a response the client took nothing of for ``write_timeout`` (the
  socket's buffer full all along) is cut off with a reset;
- a client that half-closes after sending a request still gets its answer;
- malformed HTTP: a JSON 400 (uvicorn's own is text);
- one write per response: ``CoalescingTransport`` joins what one loop turn writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import time
from dataclasses import dataclass
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Protocol, cast

CHUNK = 256 * 1024
MAX_HEAD_BYTES = 64 * 1024
"""Bytes a connection may send while no request of it is in progress (a head, however split)."""


class GuardLimits(Protocol):
    """What the guards read of ``local_runtime.server.ServerLimits``."""

    @property
    def idle_timeout(self) -> float: ...
    @property
    def header_timeout(self) -> float: ...
    @property
    def max_connections(self) -> int: ...
    @property
    def write_timeout(self) -> float: ...


def raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    """A whole HTTP/1.1 answer with a JSON error body that closes the connection."""
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    return head + body


REQUEST_TIMEOUT = raw_error(408, "Request Timeout", "request_timeout", "the request was not sent in time")
HEAD_TOO_LARGE = raw_error(
    431, "Request Header Fields Too Large", "headers_too_large",
    f"the request line and headers exceed {MAX_HEAD_BYTES} bytes")
BAD_REQUEST = raw_error(400, "Bad Request", "bad_request", "malformed HTTP request")


class CoalescingTransport:
    """A connection's transport, with the writes of one event-loop turn joined into one.

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

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _peer(transport: CoalescingTransport) -> tuple[str, int] | None:
    """The peer as uvicorn writes it into the ASGI scope's ``client``: (host, port)."""
    peer = transport.get_extra_info("peername")
    return (str(peer[0]), int(peer[1])) if isinstance(peer, tuple) else None


@dataclass(eq=False)
class Connection:
    """One open connection as the guards see it."""

    transport: CoalescingTransport
    peer: tuple[str, int] | None
    idle_since: float
    busy: bool = False  # an ASGI request of it is in progress
    eof: bool = False  # the client half-closed while a request was in progress: close after the answer
    refused: bool = False  # opened over the limit with every other connection busy: answer 503
    lost: bool = False  # the connection is gone
    reading: bool = False  # the ASGI side is in a receive() of the body
    head_bytes: int = 0  # received while no request was in progress
    timer: asyncio.TimerHandle | None = None  # the idle timer from accept, then a head's timer
    write_timer: asyncio.TimerHandle | None = None

    def is_lost(self) -> bool:
        return self.lost

    def cancel_timers(self) -> None:
        for timer in (self.timer, self.write_timer):
            if timer is not None:
                timer.cancel()
        self.timer = self.write_timer = None


class Connections:
    """The open connections of one server, by peer, and the limits they are held to."""

    def __init__(self, limits: GuardLimits) -> None:
        self.limits = limits
        self._by_peer: dict[tuple[str, int] | None, Connection] = {}
        self._all: set[Connection] = set()

    def opened(self, transport: CoalescingTransport, loop: asyncio.AbstractEventLoop) -> Connection:
        conn = Connection(transport, _peer(transport), time.monotonic())
        self._all.add(conn)
        self._by_peer[conn.peer] = conn
        if len(self._all) > self.limits.max_connections and not self._evict_one(conn):
            # Every connection has a request in progress: answer this one 503 at its first request
            # (closing now could reset the request before the answer is read).
            conn.refused = True
        conn.timer = loop.call_later(self.limits.idle_timeout, self._idle_timed_out, conn)
        return conn

    def closed(self, conn: Connection) -> None:
        conn.lost = True
        conn.cancel_timers()
        self._all.discard(conn)
        if self._by_peer.get(conn.peer) is conn:
            del self._by_peer[conn.peer]

    def _evict_one(self, newcomer: Connection) -> bool:
        # Not one already closing (it keeps its descriptor until the loop's next turn): picking it
        # again would make no room at all.
        idle = [c for c in self._all if c is not newcomer and not c.busy and not c.transport.is_closing()]
        if not idle:
            return False
        min(idle, key=lambda c: c.idle_since).transport.abort()
        return True

    @staticmethod
    def _idle_timed_out(conn: Connection) -> None:
        conn.timer = None
        if not conn.busy and not conn.transport.is_closing():
            conn.transport.close()

    @staticmethod
    def _head_timed_out(conn: Connection) -> None:
        conn.timer = None
        if not conn.busy and not conn.transport.is_closing():
            conn.transport.write(REQUEST_TIMEOUT)
            conn.transport.close()

    # --- the ASGI side --------------------------------------------------------

    def request_started(self, client: Any) -> Connection | None:
        """The connection whose request's ASGI call starts now (by the scope's ``client``)."""
        conn = self._by_peer.get(tuple(client) if client else None)
        if conn is not None:
            conn.busy = True
            conn.head_bytes = 0
            if conn.timer is not None:
                conn.timer.cancel()
                conn.timer = None
        return conn

    @staticmethod
    async def receive(conn: Connection | None, receive: Callable[[], Awaitable[Any]]) -> Any:
        """uvicorn's ``receive()`` for the request on ``conn``; after the client's EOF, a body that
        can never be completed ends as a disconnect (the connection is closed)."""
        if conn is None:
            return await receive()
        conn.reading = True
        if conn.eof:
            asyncio.get_running_loop().call_soon(Connections.check_body_after_eof, conn)
        try:
            return await receive()
        finally:
            conn.reading = False

    @staticmethod
    def check_body_after_eof(conn: Connection) -> None:
        """Run a loop turn after the client's EOF: every byte is with uvicorn by then, and a receive()
        with anything to return has returned (it does not wait when it has), so one still in
        progress waits for bytes that cannot come."""
        if conn.reading and not conn.transport.is_closing():
            conn.transport.close()

    @staticmethod
    def request_ended(conn: Connection) -> None:
        conn.busy = False
        conn.idle_since = time.monotonic()
        if conn.eof:
            conn.transport.close()

    # --- the protocol side ----------------------------------------------------

    def data_received(self, conn: Connection, size: int, loop: asyncio.AbstractEventLoop) -> bool:
        """Count a read; False when the connection was answered and closed instead."""
        if conn.busy:
            return True
        if conn.head_bytes >= MAX_HEAD_BYTES:
            if not conn.transport.is_closing():
                conn.transport.write(HEAD_TOO_LARGE)
                conn.transport.close()
            return False
        if conn.head_bytes == 0:
            # A request's first byte: its head has header_timeout from now, however it trickles.
            if conn.timer is not None:
                conn.timer.cancel()
            conn.timer = loop.call_later(self.limits.header_timeout, self._head_timed_out, conn)
        conn.head_bytes += size
        return True


class GuardMixin(asyncio.Protocol):
    """Mixed in before a uvicorn HTTP protocol class (``guarded_protocol``): the guards above, on
    asyncio's protocol callbacks, each handing on to uvicorn's."""

    connections_table: ClassVar[Connections]
    _loop_: asyncio.AbstractEventLoop
    _guard: Connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._loop_ = asyncio.get_running_loop()
        wrapped = CoalescingTransport(cast(asyncio.Transport, transport), self._loop_)
        self._guard = self.connections_table.opened(wrapped, self._loop_)
        super().connection_made(cast(asyncio.Transport, wrapped))

    def data_received(self, data: bytes) -> None:
        if self.connections_table.data_received(self._guard, len(data), self._loop_):
            super().data_received(data)

    def eof_received(self) -> bool | None:
        # A client that half-closes after sending a request (shutdown(SHUT_WR)) still gets its
        # answer: the transport stays open for writing, closed once the answer is sent. One whose
        # body the EOF cut short is closed once its receive() is seen waiting (Connections.receive);
        # with no request in progress the connection is closed now (uvicorn's way).
        guard = self._guard
        if guard.busy:
            guard.eof = True
            if guard.reading:  # after the wake-up, already queued, of a receive() the last bytes complete
                self._loop_.call_soon(Connections.check_body_after_eof, guard)
            return True
        guard.transport.flush()  # asyncio closes the real transport next: an answer just written goes first
        return super().eof_received()

    def pause_writing(self) -> None:
        # The socket's buffer is full: the client is not reading. If it takes nothing for
        # write_timeout, the connection is cut (a stream to it holds memory and a file).
        super().pause_writing()
        guard = self._guard
        if guard.write_timer is None:
            guard.write_timer = self._loop_.call_later(
                self.connections_table.limits.write_timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        guard = self._guard
        if guard.write_timer is not None:
            guard.write_timer.cancel()
            guard.write_timer = None

    def _write_timed_out(self) -> None:
        transport = self._guard.transport
        self._guard.write_timer = None
        # Reset, not closed: close() would wait for the buffer to drain, which it never does, and
        # even an aborted socket keeps its unsent bytes in the kernel; linger 0 drops them too.
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections_table.closed(self._guard)
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to bytes its parser refuses: ours is JSON."""
        transport = self._guard.transport
        if not transport.is_closing():
            transport.write(BAD_REQUEST)
            transport.close()


def guarded_protocol(base: type[asyncio.Protocol], table: Connections) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol class ``base`` with ``GuardMixin`` before it, guarding ``table``."""
    return cast(type[asyncio.Protocol], type(f"Guarded{base.__name__}", (GuardMixin, base), {"connections_table": table}))
