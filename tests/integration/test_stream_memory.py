"""Clients that never read a ``?stream=1`` body cost bounded memory and are cut off.

A fake upstream (``OPENAI_BASE_URL``) answers each chunk of a long job with about 4 MB of WAV and
holds the last chunk ("zzz") until the test lets it go, so the job stays in progress with chunks
stored: what the stream route sends. 40 clients that never read ask for the stream; the
runtime's RSS (the whole process tree) may rise by less than 50 MB, the server cuts them off after
``HTTP_WRITE_TIMEOUT_SECONDS``, and once they are gone the RSS is back within 10% of what it was.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from bench.procstat import tree
from shared.audio.wav import wav_bytes
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = [pytest.mark.slow, pytest.mark.local_only("measures the local runtime's process memory")]

TOKEN = "alice-token"
CLIENTS = 40
WRITE_TIMEOUT = 8
CHUNK_SAMPLES = 2_000_000  # 4 MB of 16-bit PCM a chunk
RELEASE = threading.Event()


class BigChunks(FakeProvider):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        if "zzz" in body["input"]:
            RELEASE.wait(120)
        pcm = struct.pack("<h", len(body["input"]) % 30000) * CHUNK_SAMPLES
        self.reply(200, wav_bytes(pcm, 24000), "audio/wav")


def rss_mib(pid: int) -> float:
    total = 0
    for member in tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/status") as status:
            total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))
    return total / 1024


def steady_rss(pid: int, seconds: float = 2.0) -> float:
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(rss_mib(pid))
        time.sleep(0.2)
    return max(samples)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with serving(BigChunks) as upstream:
        env = {"API_TOKENS": f"alice:{TOKEN}", "OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": upstream,
               "MAX_AUDIO_BYTES": "200000000", "HTTP_WRITE_TIMEOUT_SECONDS": str(WRITE_TIMEOUT)}
        p = Pipeline(tmp_path_factory.mktemp("stream-memory"), env=env).start()
        try:
            yield p
        finally:
            RELEASE.set()
            p.stop()


def test_forty_clients_that_never_read_a_stream_hold_bounded_memory_and_are_cut_off(pipeline: Pipeline) -> None:
    assert pipeline.process is not None
    pid = pipeline.process.pid
    text = " ".join(f"Sentence {i} of a long story, told to fill a few chunks of audio." for i in range(300))
    text += " The last one waits upstream, zzz."
    job = pipeline.submit(token=TOKEN, text=text, model="openai/tts-1", format="wav")
    deadline = time.monotonic() + 60
    while True:  # three chunks stored (12 MB, more than any socket holds), the last one held upstream
        state = pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).json()
        progress = state.get("progress") or {}
        if progress.get("done", 0) >= 3:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.2)
    assert progress["total"] >= 5 and state["status"] == "processing"
    idle = steady_rss(pid)
    clients = []
    for _ in range(CLIENTS):
        sock = socket.create_connection(("127.0.0.1", pipeline.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /v1/jobs/{job['jobId']}/audio?stream=1 HTTP/1.1\r\nHost: x\r\n"
                     f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        clients.append(sock)
    try:
        time.sleep(2)  # the server fills every socket it can
        loaded = steady_rss(pid, 3.0)
        assert loaded - idle < 50, f"RSS {idle:.0f} MiB idle, {loaded:.0f} MiB with {CLIENTS} stalled streams"
        # Cut off after HTTP_WRITE_TIMEOUT_SECONDS: each socket ends (EOF or reset) once drained.
        time.sleep(WRITE_TIMEOUT)
        for sock in clients:
            sock.settimeout(5)  # a socket the server had not closed would time out here
            with contextlib.suppress(ConnectionResetError):
                while sock.recv(1 << 20):
                    pass
    finally:
        for sock in clients:
            sock.close()
    after = steady_rss(pid)
    assert after <= idle * 1.10, f"RSS {idle:.0f} MiB before, {after:.0f} MiB after the clients left"
    health = pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN)
    assert health.status == 200
