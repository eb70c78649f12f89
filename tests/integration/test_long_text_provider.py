"""Long text through the real local runtime and an OpenAI-compatible server on loopback:
chunk tasks in parallel, a 429 with Retry-After in the middle, one joined WAV in chunk order."""

from __future__ import annotations

import json
import struct
import threading
from collections.abc import Iterator

import pytest

from shared.text.chunking import chunk_texts
from shared.audio.wav import wav_bytes, wav_pcm
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
KEY = "sk-loopback-test-key"


class FakeOpenAI(FakeProvider):
    """``POST /v1/audio/speech``: a WAV whose samples encode the request number; the third request gets a 429."""

    inputs: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        assert self.path == "/v1/audio/speech" and self.headers["Authorization"] == f"Bearer {KEY}"
        with self.lock:
            self.inputs.append(body["input"])
            n = len(self.inputs)
        if n == 3:
            reply = json.dumps({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}).encode()
            self.reply(429, reply, "application/json", Retry_After="1")
            return
        samples = [len(body["input"])] * 100 + [n] * 10
        self.reply(200, wav_bytes(struct.pack(f"<{len(samples)}h", *samples), 24000), "audio/wav")


@pytest.fixture(scope="module")
def openai(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(FakeOpenAI) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, openai: str, runtime: str) -> Iterator[Pipeline]:
    env = {
        "API_TOKENS": f"alice:{TOKEN}",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": openai,
        "RETRY_BASE_SECONDS": "1",
        # 15,000 characters of speech estimate at ~58 MB of 24 kHz WAV; the fake sends far less
        "MAX_AUDIO_BYTES": "100000000",
    }
    FakeOpenAI.inputs.clear()  # one fake serves both runtimes' modules in turn
    p = Pipeline(tmp_path_factory.mktemp("long"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def test_long_text_is_chunked_resumed_after_a_429_and_joined(pipeline: Pipeline) -> None:
    text = " ".join(f"Sentence {i} of a long story, told slowly so that it fills several requests." for i in range(200))
    chunks = chunk_texts(text, 4096)
    assert len(chunks) == 4

    models = pipeline.request("GET", "/v1/models", token=TOKEN).json()["models"]
    assert "openai/tts-1" in [m["id"] for m in models]
    job = pipeline.submit(token=TOKEN, text=text, model="openai/tts-1", format="wav")
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=60)
    assert done["status"] == "completed", done
    assert done["progress"] == {"done": 4, "total": 4}
    assert done["characters"] == sum(len(c) for c in chunks)
    assert done["attempts"] == 3  # the job's claims: the jobs queue's (handed over to the chunk queue), the one that
    # fanned its chunks out, the one that joined them

    # The chunks went out as tasks, in parallel: each once, and the one that met the 429 (the third
    # request, whichever chunk it was) once more after it. Nothing else was paid for again.
    retried = FakeOpenAI.inputs[2]
    assert sorted(FakeOpenAI.inputs) == sorted([*chunks, retried]) and len(FakeOpenAI.inputs) == 5
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    assert audio.headers["content-type"] == "audio/wav"
    pcm = wav_pcm(audio.body)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    expected: list[int] = []
    for chunk in chunks:  # each chunk's audio is its last (successful) request's
        request_number = len(FakeOpenAI.inputs) - FakeOpenAI.inputs[::-1].index(chunk)
        expected += [len(chunk)] * 100 + [request_number] * 10
    assert list(samples) == expected  # sample-exact join, in order


def test_a_model_without_a_configured_provider_is_refused(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "model": "gemini/gemini-3.8-flash-tts"}, token=TOKEN)
    assert reply.status == 422 and reply.json()["error"]["field"] == "model"
