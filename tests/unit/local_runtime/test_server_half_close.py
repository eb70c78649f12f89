"""A client that half-closes its socket after sending a request (shutdown(SHUT_WR)) still gets
its answer; one that half-closes with nothing in progress is closed."""

from __future__ import annotations

import asyncio
import json

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
