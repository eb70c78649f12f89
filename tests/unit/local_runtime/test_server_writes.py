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


def _requests(port: int, paths: list[str]) -> list[tuple[int, bytes]]:
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        out = []
        for path in paths:
            conn.request("GET", path)
            response = conn.getresponse()
            out.append((response.status, response.read()))
        return out
    finally:
        conn.close()


async def test_each_small_response_is_one_socket_write_and_a_big_one_arrives_whole() -> None:
    server = HttpServer(_app, "127.0.0.1", 0)
    await server.start()
    try:
        replies = await asyncio.to_thread(_requests, server.port, ["/a", "/b", "/c"])
        assert [(s, json.loads(b)["path"]) for s, b in replies] == [(200, "/a"), (200, "/b"), (200, "/c")]
        assert server._server is not None
        (protocol,) = server._server.server_state.connections
        assert protocol.transport.socket_writes == 3  # head + body + end of message, joined
        (big,) = await asyncio.to_thread(_requests, server.port, ["/big"])
        assert big == (200, bytes(range(256)) * (3 * CHUNK // 256))
    finally:
        await server.stop()
