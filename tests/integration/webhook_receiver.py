"""A webhook (POST) and bucket (PUT) receiver on loopback: records requests, answers as scripted."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"


@dataclass
class Receiver:
    """``script[path]``: statuses to answer in order (the last repeats); 204 for unknown paths."""

    script: dict[str, list[int]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    port: int = 0
    # Called with each request before it is answered (from the server's thread).
    on_request: Callable[[Delivery], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def status_for(self, path: str) -> int:
        with self._lock:
            statuses = self.script.get(path)
            if not statuses:
                return 204
            return statuses.pop(0) if len(statuses) > 1 else statuses[0]

    def at(self, path: str) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if d.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 20.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while len(self.at(path)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.at(path)


@contextmanager
def receiving(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            delivery = Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.command)
            with receiver._lock:
                receiver.deliveries.append(delivery)
            if receiver.on_request is not None:
                receiver.on_request(delivery)
            status = receiver.status_for(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            if 300 <= status < 400:
                self.send_header("Location", receiver.url("/redirected"))
            self.end_headers()

        do_PUT = do_POST  # noqa: N815 - http.server's name: a presigned PUT URL

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
