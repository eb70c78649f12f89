"""Edges of the local HTTP server: a client that half-closes its socket after sending a request
(shutdown(SHUT_WR)) still gets its answer, one that half-closes with nothing in progress is closed;
a client that stops reading a response is reset after the write timeout, and the body's producer
stops; the connection cap fits the file limit."""

from __future__ import annotations

import asyncio
import json

import pytest

from local_runtime.server import HttpServer
from shared.http import HttpRequest, HttpResponse


async def test_a_half_closed_client_gets_its_answer() -> None:
    async def slow(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0.2)  # the EOF arrives while the request is in progress
        return HttpResponse.json(200, {"path": request.path})

    server = HttpServer(slow, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        writer.write_eof()
        reply = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
        idle_writer.write_eof()
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed by the server
        idle_writer.close()
    finally:
        await server.stop()
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"path": "/hello"}


def test_the_connection_cap_leaves_room_for_every_connection_to_send_a_file() -> None:
    from local_runtime.server import ACCEPT_BURST, FD_HEADROOM, connection_cap

    cap = connection_cap(4096, 1024, 30)
    assert cap * 2 + 30 + ACCEPT_BURST + FD_HEADROOM <= 1024
    assert connection_cap(100, 1_048_576, 30) == 100  # HTTP_MAX_CONNECTIONS when the files allow
    assert connection_cap(4096, 300, 200) == 1  # never zero


async def test_a_client_that_stops_reading_is_reset_after_the_write_timeout() -> None:
    import socket
    from dataclasses import replace

    from local_runtime.server import DEFAULT_LIMITS

    produced: list[int] = []
    closed = asyncio.Event()

    async def blocks():  # type: ignore[no-untyped-def]
        try:
            for i in range(1000):
                produced.append(i)
                yield b"x" * 65536
        finally:
            closed.set()

    async def app(request: HttpRequest) -> HttpResponse:
        response = HttpResponse.empty(200, {"Content-Type": "application/octet-stream"})
        response.stream = blocks()
        return response

    server = HttpServer(app, "127.0.0.1", 0, limits=replace(DEFAULT_LIMITS, write_timeout=0.5))
    await server.start()
    try:
        sock = socket.create_connection(("127.0.0.1", server.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(closed.wait(), 10)  # the producer was stopped, not left suspended
        assert len(produced) < 1000
        sock.setblocking(False)
        with pytest.raises(ConnectionResetError):
            while sock.recv(1 << 20):
                pass
        sock.close()
    finally:
        await server.stop()
