"""The provider adapters in real Pyodide: ``FetchHttpClient`` (JS fetch + AbortSignal.timeout)
against a loopback server, and ``AiBinding`` against a JS double of ``env.AI`` that returns
what the Workers AI docs say it returns (a ReadableStream for aura, ``{audio}`` for melotts)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pyodide_harness import REPO_ROOT, Harness, worker_spec

WORKER = "synth_consumer"
AUDIO = bytes(range(256)) * 64  # every byte value, 16 KiB


class _Handler(BaseHTTPRequestHandler):
    seen: list[dict[str, Any]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body.hex()})
        if self.path == "/slow":
            time.sleep(3)
        if self.path == "/busy":
            self._reply(429, b'{"error": {"message": "slow down"}}', {"Content-Type": "application/json", "Retry-After": "9"})
            return
        self._reply(200, AUDIO, {"Content-Type": "audio/mpeg", "X-Request-Id": "abc"})


@pytest.fixture(scope="module")
def loopback() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def worker(harness: Harness) -> str:
    harness.add_workers({WORKER: worker_spec(REPO_ROOT / f"workers/{WORKER}", script_names={"tts-api": "api"})})
    return WORKER


def run(harness: Harness, worker: str, code: str) -> Any:
    return harness.run_python(worker, code)


def test_fetch_client_round_trip(harness: Harness, worker: str, loopback: str) -> None:
    _Handler.seen.clear()
    out = run(
        harness,
        worker,
        f"""
from cloudflare_adapters.fetch import FetchHttpClient
r = await FetchHttpClient().request(
    "POST", "{loopback}/audio", headers={{"Content-Type": "application/json", "xi-api-key": "k"}},
    body=bytes(range(256)), timeout=10)
import hashlib
[r.status, r.header("content-type"), r.header("X-REQUEST-ID"), len(r.body), hashlib.sha256(r.body).hexdigest()]
""",
    )
    import hashlib

    assert out == [200, "audio/mpeg", "abc", len(AUDIO), hashlib.sha256(AUDIO).hexdigest()]
    seen = _Handler.seen[0]
    assert seen["body"] == bytes(range(256)).hex() and seen["headers"]["xi-api-key"] == "k"


def test_fetch_client_error_statuses_timeouts_and_refusals(harness: Harness, worker: str, loopback: str) -> None:
    out = run(
        harness,
        worker,
        f"""
from cloudflare_adapters.fetch import FetchHttpClient
from shared.errors import HttpConnectionError, HttpTimeoutError
client = FetchHttpClient()
busy = await client.request("POST", "{loopback}/busy", headers={{}}, body=b"", timeout=10)
try:
    await client.request("POST", "{loopback}/slow", headers={{}}, body=b"", timeout=0.3)
    slow = "answered"
except HttpTimeoutError as exc:
    slow = "timeout"
try:
    await client.request("POST", "http://127.0.0.1:9/", headers={{}}, body=b"", timeout=5)
    refused = "answered"
except HttpConnectionError as exc:
    refused = "connection"
[busy.status, busy.header("retry-after"), slow, refused]
""",
    )
    assert out == [429, "9", "timeout", "connection"]


def test_ai_binding_reads_streams_and_objects(harness: Harness, worker: str) -> None:
    out = run(
        harness,
        worker,
        """
from js import eval as js_eval
from cloudflare_adapters.ai import AiBinding
from shared.errors import PermanentSynthesisError, TransientSynthesisError
double = js_eval('''({
  calls: [],
  async run(model, inputs, options) {
    this.calls.push([model, JSON.stringify(inputs), typeof options.signal]);
    if (model === "busy") throw new Error("AiError: 3040: Capacity temporarily exceeded, please try again.");
    if (model === "bad") throw new Error("AiError: 5007: No such model bad or task");
    if (model.includes("melotts")) return { audio: btoa("ID3 fake mp3") };
    if (model === "bytes") return new Uint8Array([9, 8, 7]);
    return new Response(new Uint8Array([1, 2, 3, 4, 5])).body;  // a ReadableStream, as aura gives
  }
})''')
ai = AiBinding(double)
aura = await ai.run("@cf/deepgram/aura-2-en", {"text": "hi", "speaker": "luna", "sample_rate": None}, timeout=5)
melo = await ai.run("@cf/myshell-ai/melotts", {"prompt": "hi", "lang": "en"}, timeout=5)
raw = await ai.run("bytes", {}, timeout=5)
errors = []
for model in ("busy", "bad"):
    try:
        await ai.run(model, {}, timeout=5)
    except TransientSynthesisError as exc:
        errors.append(["transient", str(exc)[:40]])
    except PermanentSynthesisError as exc:
        errors.append(["permanent", str(exc)[:40]])
[list(aura), melo, list(raw), errors, [list(c) for c in double.calls][0]]
""",
    )
    aura, melo, raw, errors, first_call = out
    assert aura == [1, 2, 3, 4, 5]
    assert melo == {"audio": "SUQzIGZha2UgbXAz"}
    assert raw == [9, 8, 7]
    assert errors[0][0] == "transient" and "3040" in errors[0][1]
    assert errors[1][0] == "permanent" and "5007" in errors[1][1]
    assert first_call[0] == "@cf/deepgram/aura-2-en"
    assert json.loads(first_call[1]) == {"text": "hi", "speaker": "luna", "sample_rate": None}
    assert first_call[2] == "object"  # an AbortSignal rode along
