"""A scripted stand-in for the api Worker, on loopback, for client tests.

It answers each request from a list of canned replies (the last one
repeats) and records what it was sent, so tests can drive the client into
cases the real pipeline reaches only by chance: a job that never finishes,
a failed job, 503s with Retry-After, error bodies that are not JSON.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Canned:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: dict[str, str] | None = None) -> Canned:
        return cls(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    routes: dict[tuple[str, str], list[Canned]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on(self, method: str, path: str, *replies: Canned) -> None:
        self.routes[(method, path)] = list(replies)

    def _reply(self, method: str, path: str) -> Canned:
        replies = self.routes.get((method, path.split("?")[0]))
        if not replies:
            return Canned.json(404, {"error": {"code": "not_found", "message": f"no route for {path}"}})
        return replies.pop(0) if len(replies) > 1 else replies[0]


def job_json(job_id: str = "a" * 32, status: str = "processing", **fields: Any) -> dict[str, Any]:
    base = {
        "jobId": job_id, "status": status, "model": "tone", "voiceId": "default", "format": "wav",
        "createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:01Z",
    }
    return {**base, **fields}


@contextmanager
def serve(api: FakeApi) -> Iterator[FakeApi]:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            reply = api._reply(self.command, self.path)
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    api.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class FakeTime:
    """A clock that moves only when a client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
