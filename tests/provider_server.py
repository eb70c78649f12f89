"""A loopback HTTP server that plays a provider: scripted replies, recorded requests.

``FakeServer`` listens on 127.0.0.1 with a free port (inside the test's event
loop, on h11) and answers each request with the next scripted ``Reply`` (or
the default), recording what arrived, so tests assert on the exact request a
provider sent and on how it took each documented reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

import h11


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (for timeout tests; never asserted on)
    chunked: bool = False  # send the body with Transfer-Encoding: chunked
    drop: bool = False  # close the connection without answering

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def query(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.replies: list[Reply] = []
        self.default = Reply(404, b'{"error": "no reply scripted"}', {"Content-Type": "application/json"})
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._one(reader, writer)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                if not data:
                    return
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
        assert request is not None
        headers = {k.decode().lower(): v.decode() for k, v in request.headers}
        self.requests.append(Seen(request.method.decode(), request.target.decode(), headers, bytes(body)))
        reply = self.replies.pop(0) if self.replies else self.default
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.drop:
            return
        out = [(k, v) for k, v in reply.headers.items()]
        if reply.chunked:
            out.append(("Transfer-Encoding", "chunked"))
        else:
            out.append(("Content-Length", str(len(reply.body))))
        out.append(("Connection", "close"))
        writer.write(conn.send(h11.Response(status_code=reply.status, headers=out)))
        if reply.chunked:
            for start in range(0, len(reply.body), 1000):
                writer.write(conn.send(h11.Data(data=reply.body[start : start + 1000])))
        elif reply.body:
            writer.write(conn.send(h11.Data(data=reply.body)))
        writer.write(conn.send(h11.EndOfMessage()))
        await writer.drain()
