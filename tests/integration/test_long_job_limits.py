"""A long job with a slow provider finishes inside a consumer invocation's wall time.

The runtime gets 30 s of wall time a consumer invocation (``CONSUMER_WALL_SECONDS``)
and an OpenAI-compatible provider on loopback that takes 4 ms a character:
one 4,096-character chunk of ``openai/tts-1`` takes about 16 s, so one chunk
fits an invocation and two do not. A 40,000-character job (10 chunks, 160 s
of provider time one after another) must complete with every chunk asked for
once (the one that met an injected 500 once more), nothing dead-lettered,
and chunks synthesized at the same time in several invocations.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator

import pytest

from shared.text.chunking import chunk_texts
from shared.audio.wav import wav_bytes
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
KEY = "sk-loopback-test-key"
SECONDS_PER_CHAR = 0.004


class SlowOpenAI(FakeProvider):
    """``POST /v1/audio/speech`` taking 4 ms a character; the second request gets a 500."""

    inputs: list[str] = []
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        cls = type(self)
        with cls.lock:
            cls.inputs.append(body["input"])
            n = len(cls.inputs)
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            if n == 2:
                self.reply(500, b'{"error": {"message": "injected"}}', "application/json")
                return
            time.sleep(len(body["input"]) * SECONDS_PER_CHAR)
            samples = [len(body["input"]) % 30000] * 50
            self.reply(200, wav_bytes(struct.pack(f"<{len(samples)}h", *samples), 24000), "audio/wav")
        finally:
            with cls.lock:
                cls.in_flight -= 1


@pytest.fixture(scope="module")
def provider(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(SlowOpenAI) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, provider: str, runtime: str) -> Iterator[Pipeline]:
    env = {
        "API_TOKENS": f"alice:{TOKEN}",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": provider,
        "RETRY_BASE_SECONDS": "1",
        "CONSUMER_WALL_SECONDS": "30",
        # The fake's speed, declared: 4,096-character chunks (the model's own limit) fit 27 s at 250/s.
        "MODEL_SPEEDS": "openai/tts-1=250",
        "MAX_AUDIO_BYTES": "500000000",
    }
    SlowOpenAI.inputs.clear()
    SlowOpenAI.most_in_flight = 0
    p = Pipeline(tmp_path_factory.mktemp("limits"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def test_a_long_job_with_a_slow_provider_completes_inside_the_wall_time(pipeline: Pipeline) -> None:
    text = " ".join(f"Line {i} of a long text read by a slow provider, one chunk at a time." for i in range(560))[:40_000]
    chunks = chunk_texts(text, 4096)
    assert len(chunks) == 10
    serial_seconds = len(text) * SECONDS_PER_CHAR
    started = time.monotonic()
    job = pipeline.submit(token=TOKEN, text=text, model="openai/tts-1", format="wav")
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=serial_seconds * 2)
    elapsed = time.monotonic() - started
    assert done["status"] == "completed", done
    assert done["progress"] == {"done": 10, "total": 10}
    assert done["characters"] == sum(len(c) for c in chunks)
    # Each chunk was asked for once; the one that met the 500 once more.
    failed = SlowOpenAI.inputs[1]
    assert sorted(SlowOpenAI.inputs) == sorted([*chunks, failed])
    # Chunks were synthesized at the same time, so the job took less than one after another would.
    assert SlowOpenAI.most_in_flight >= 2
    assert elapsed < serial_seconds, (elapsed, serial_seconds)
    logs = "".join(pipeline.log_lines)
    assert '"job_dead_lettered"' not in logs and '"dead_letter_resent"' not in logs
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    assert audio.status == 200 and audio.headers["content-type"] == "audio/wav"
