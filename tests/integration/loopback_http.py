"""A ``http.server`` handler served on 127.0.0.1 in a thread, for the provider fakes."""

from __future__ import annotations

import contextlib
import json
import struct
import threading
from collections.abc import Iterator
from typing import Any
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shared.audio.wav import wav_bytes


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], path: str = "/v1") -> Iterator[str]:
    """Yields the server's base URL (``http://127.0.0.1:<port><path>``); shuts it down after."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()


class FakeProvider(BaseHTTPRequestHandler):
    """A provider fake's common part: quiet, a JSON request body, one-call replies."""

    def log_message(self, *args: Any) -> None:
        pass

    def json_body(self) -> Any:
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        """``headers`` by their names with ``_`` for ``-`` (``Retry_After="1"``)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class CountingSpeech(FakeProvider):
    """OpenAI's ``POST /v1/audio/speech``: a WAV whose samples follow the input's first
    400 characters; every input recorded in ``inputs`` (subclass it per module for a list of its own)."""

    inputs: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        with self.lock:
            self.inputs.append(body["input"])
        samples = [ord(c) % 2000 for c in body["input"][:400]] or [0]
        self.reply(200, wav_bytes(struct.pack(f"<{len(samples)}h", *samples), 24000), "audio/wav")
