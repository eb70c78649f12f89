"""Exact timings from a provider, through a long job on the real runtimes: an ElevenLabs-compatible
server on loopback answers ``with-timestamps`` (PCM and per-character times); a 429 in the middle makes
the job resume from its stored chunks, timings included; the joined timings are every chunk's,
shifted by the samples before it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator

import pytest

from shared.text.chunking import chunk_texts
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "erin-token"
KEY = "xi-loopback-key-0123"
RATE = 16000
PER_CHAR = 160  # samples per character: 10 ms at 16 kHz
CHUNK_CHARS = 200
TEXT = " ".join(f"Line {i} of a story that a voice with timings reads aloud, word by word." for i in range(12))


class FakeElevenLabs(FakeProvider):
    """``POST /v1/text-to-speech/{voice}/with-timestamps``: 10 ms of PCM per character, its times; call 3 is a 429."""

    texts: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        assert self.headers["xi-api-key"] == KEY and self.path.split("?")[0].endswith("/with-timestamps")
        assert f"output_format=pcm_{RATE}" in self.path
        text = body["text"]
        with self.lock:
            self.texts.append(text)
            n = len(self.texts)
        if n == 3:
            self.reply(429, json.dumps({"detail": {"status": "too_many_concurrent_requests", "message": "slow down"}}).encode(),
                       "application/json", Retry_After="1")
            return
        pcm = b"".join((1000 + (i % 50)).to_bytes(2, "little", signed=True) * PER_CHAR for i in range(len(text)))
        step = PER_CHAR / RATE
        reply = {
            "audio_base64": base64.b64encode(pcm).decode(),
            "alignment": {
                "characters": list(text),
                "character_start_times_seconds": [i * step for i in range(len(text))],
                "character_end_times_seconds": [(i + 1) * step for i in range(len(text))],
            },
        }
        self.reply(200, json.dumps(reply).encode(), "application/json")


@pytest.fixture(scope="module")
def elevenlabs(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(FakeElevenLabs, path="") as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, elevenlabs: str, runtime: str) -> Iterator[Pipeline]:
    env = {
        "API_TOKENS": f"erin:{TOKEN}",
        "ELEVENLABS_API_KEY": KEY,
        "ELEVENLABS_BASE_URL": elevenlabs,
        "MAX_INPUT_CHARS": str(CHUNK_CHARS),
        "RETRY_BASE_SECONDS": "1",
    }
    FakeElevenLabs.texts.clear()
    p = Pipeline(tmp_path_factory.mktemp("captions-provider"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def test_a_long_elevenlabs_job_has_exact_timings_shifted_per_chunk(pipeline: Pipeline) -> None:
    FakeElevenLabs.texts.clear()
    chunks = chunk_texts(TEXT, CHUNK_CHARS)
    assert len(chunks) >= 4
    job = pipeline.submit(TEXT, token=TOKEN, model="elevenlabs/eleven_multilingual_v2", format="wav",
                          sample_rate=RATE, timestamps="word")
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=90)
    assert done["status"] == "completed", done
    assert done["attempts"] == 3  # the jobs queue's claim that handed it to the chunk queue, the 429, then a resume
    # chunks 0 and 1 once, chunk 2 twice (429, then served), the rest once: stored timings were reused
    assert FakeElevenLabs.texts == [chunks[0], chunks[1], chunks[2], *chunks[2:]]

    doc = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/timestamps", token=TOKEN).json()
    assert doc["timings"] == "exact" and "with-timestamps" in doc["method"]
    words = doc["words"]
    assert [w["word"] for w in words] == TEXT.split()
    # Each word starts 10 ms per character the provider was sent before it (chunks are joined
    # without the whitespace between them), exact across every join.
    sent_before, position = 0, 0
    expected: dict[int, float] = {}
    for chunk in chunks:
        position = TEXT.index(chunk, position)
        for offset in range(len(chunk)):
            expected[position + offset] = (sent_before + offset) * PER_CHAR / RATE
        sent_before += len(chunk)
        position += len(chunk)
    for word in words:
        assert word["start"] == pytest.approx(expected[word["charStart"]], abs=1e-6), word
    assert doc["duration"] == pytest.approx(sent_before * PER_CHAR / RATE)
    assert words[-1]["end"] == pytest.approx(doc["duration"], abs=1e-6)
