"""The local HTTP server answers a request with one write to the socket (local_runtime/server.py)."""

from __future__ import annotations

import asyncio
import json
from http.client import HTTPConnection

from local_runtime.server import CHUNK, HttpServer
from shared.http import Headers, HttpRequest, HttpResponse


async def _app(request: HttpRequest) -> HttpResponse:
    if request.path == "/big":
        return HttpResponse(200, Headers({"Content-Type": "application/octet-stream"}), bytes(range(256)) * (3 * CHUNK // 256))
    return HttpResponse.json(200, {"path": request.path})


def _send(conn: HTTPConnection, paths: list[str]) -> list[tuple[int, bytes]]:
    out = []
    for path in paths:
        conn.request("GET", path)
        response = conn.getresponse()
        out.append((response.status, response.read()))
    return out


async def test_each_small_response_is_one_socket_write_and_a_big_one_arrives_whole() -> None:
    server = HttpServer(_app, "127.0.0.1", 0)
    await server.start()
    # The connection stays open until the server's side of it has been read: closed
    # first, the server could drop it from its connections before the count is taken.
    conn = HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        replies = await asyncio.to_thread(_send, conn, ["/a", "/b", "/c"])
        assert [(s, json.loads(b)["path"]) for s, b in replies] == [(200, "/a"), (200, "/b"), (200, "/c")]
        assert server._server is not None
        (protocol,) = server._server.server_state.connections
        assert protocol.transport.socket_writes == 3  # head + body + end of message, joined
        (big,) = await asyncio.to_thread(_send, conn, ["/big"])
        assert big == (200, bytes(range(256)) * (3 * CHUNK // 256))
    finally:
        conn.close()
        await server.stop()
