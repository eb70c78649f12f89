"""Edges of the local HTTP server, with each parser uvicorn offers: a client that half-closes its socket
after sending a request (shutdown(SHUT_WR)) still gets its answer, one that half-closes with nothing in
progress or in the middle of a body is closed at once; a client that stops reading a response is reset
after the write timeout, and the body's producer stops; malformed HTTP and an oversized head get JSON
errors; the connection cap fits the file limit."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest

from local_runtime.connection_guard import MAX_HEAD_BYTES
from local_runtime.server import HttpServer, Parser
from shared.http import HttpRequest, HttpResponse

PARSERS = pytest.mark.parametrize("parser", ["httptools", "h11"])


async def _echo(request: HttpRequest) -> HttpResponse:
    return HttpResponse.json(200, {"path": request.path, "bytes": len(request.body)})


async def _exchange(server: HttpServer, data: bytes, eof: bool = False) -> bytes:
    """Send ``data`` (then EOF if asked) and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(data)
    await writer.drain()
    if eof:
        writer.write_eof()
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@PARSERS
async def test_a_half_closed_client_gets_its_answer(parser: Parser) -> None:
    async def slow(request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0.2)  # the EOF arrives while the request is in progress
        return HttpResponse.json(200, {"path": request.path})

    server = HttpServer(slow, "127.0.0.1", 0, parser=parser)
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


@PARSERS
async def test_a_body_cut_short_by_the_clients_eof_is_closed_at_once_unanswered(parser: Parser) -> None:
    server = HttpServer(_echo, "127.0.0.1", 0, parser=parser)  # body timeout: the default 30 s
    await server.start()
    try:
        started = asyncio.get_running_loop().time()
        reply = await _exchange(server, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", eof=True)
        elapsed = asyncio.get_running_loop().time() - started
        # the whole body, then EOF: answered, also when the answer is ready before the EOF is read
        # (asyncio then closes the socket itself: the answer, still held to be joined, goes first)
        whole = await _exchange(server, b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", eof=True)
    finally:
        await server.stop()
    assert reply == b"" and elapsed < 2
    assert whole.startswith(b"HTTP/1.1 200 ") and json.loads(whole.split(b"\r\n\r\n", 1)[1])["bytes"] == 2


def _send_an_endless_head(port: int) -> bytes:
    """A head that never ends, sent in pieces until the server stops taking them; what came back."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        with contextlib.suppress(OSError):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            for _ in range(4 * MAX_HEAD_BYTES // 1024):
                sock.sendall(b"X-Pad: " + b"a" * 1014 + b"\r\n")
        reply = b""
        with contextlib.suppress(OSError):
            while part := sock.recv(65536):
                reply += part
        return reply
    finally:
        sock.close()


@PARSERS
async def test_malformed_http_and_an_oversized_head_get_json_errors_and_the_connection_closed(parser: Parser) -> None:
    server = HttpServer(_echo, "127.0.0.1", 0, parser=parser)
    await server.start()
    try:
        malformed = await _exchange(server, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        oversized = await asyncio.to_thread(_send_an_endless_head, server.port)
    finally:
        await server.stop()
    assert malformed.startswith(b"HTTP/1.1 400 ") and malformed.count(b"HTTP/1.1 ") == 1, malformed
    assert json.loads(malformed.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "bad_request"
    assert oversized.startswith((b"HTTP/1.1 431 ", b"HTTP/1.1 400 ")), oversized[:100]
    assert json.loads(oversized.split(b"\r\n\r\n", 1)[1])["error"]["code"] in ("headers_too_large", "bad_request")


@PARSERS
async def test_a_client_that_stops_reading_is_reset_after_the_write_timeout(parser: Parser) -> None:
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

    server = HttpServer(app, "127.0.0.1", 0, limits=replace(DEFAULT_LIMITS, write_timeout=0.5), parser=parser)
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
