"""The synthesis cache over HTTP on both runtimes (local CPython and workerd), with a counting provider.

The in-process tests (test_synthesis_cache.py) move a fake clock to show
expiry; these show the same reuse on the real Workers runtime: R2 custom
metadata read back by ``head``/``get``, a job created completed by its shard,
a long job joined from cache entries by R2 multipart.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.harness import Pipeline
from tests.integration.loopback_http import CountingSpeech, serving

pytestmark = pytest.mark.slow

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"
KEY = "sk-loopback-test-key"
MODEL = "openai/tts-1"


class Counting(CountingSpeech):
    inputs: list[str] = []


@pytest.fixture(scope="module")
def provider(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(Counting) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, provider: str, runtime: str) -> Iterator[Pipeline]:
    env = {
        "API_TOKENS": f"alice:{ALICE},bob:{BOB}", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": provider,
        "MAX_AUDIO_BYTES": "1000000000", "RETRY_BASE_SECONDS": "1", "SYNTHESIS_CACHE": "tenant",
    }
    p = Pipeline(tmp_path_factory.mktemp("cache"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def done(pipeline: Pipeline, token: str, text: str) -> dict:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": text, "model": MODEL, "format": "wav"}, token=token)
    assert reply.status in (200, 202), reply.body
    job = pipeline.wait(reply.json()["jobId"], token=token, timeout=90)
    assert job["status"] == "completed", job
    return job


def test_a_repeat_completes_at_submit_and_another_tenant_pays_its_own(pipeline: Pipeline) -> None:
    Counting.inputs.clear()
    text = "Your table is ready."
    first = done(pipeline, ALICE, text)
    assert len(Counting.inputs) == 1 and first["cache"]["hit"] is False

    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": text, "model": MODEL, "format": "wav"}, token=ALICE)
    assert reply.status == 200, reply.body
    second = reply.json()
    assert second["status"] == "completed" and second["cache"] == {"hit": True, "chunksReused": 1, "chunksTotal": 1}
    assert len(Counting.inputs) == 1
    a = pipeline.request("GET", f"/v1/jobs/{first['jobId']}/audio", token=ALICE).body
    b = pipeline.request("GET", f"/v1/jobs/{second['jobId']}/audio", token=ALICE).body
    assert a == b and a[:4] == b"RIFF"

    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": text, "model": MODEL, "format": "wav"}, token=BOB)
    assert reply.status == 202
    assert pipeline.wait(reply.json()["jobId"], token=BOB, timeout=60)["status"] == "completed"
    assert len(Counting.inputs) == 2

    assert pipeline.request("DELETE", f"/v1/jobs/{first['jobId']}", token=ALICE).status in (200, 204)
    assert pipeline.request("GET", f"/v1/jobs/{second['jobId']}/audio", token=ALICE).body == a


def test_an_edited_paragraph_of_a_long_text_is_synthesized_again_alone(pipeline: Pipeline) -> None:
    Counting.inputs.clear()

    def text(changed: int | None = None) -> str:
        return "\n\n".join(
            " ".join(f"Paragraph {p}, sentence {i}, is {'altered' if p == changed else 'written'} for reading."
                     for i in range(55))
            for p in range(3)
        )

    first = done(pipeline, ALICE, text())
    assert len(Counting.inputs) == 3 and first["cache"]["chunksTotal"] == 3
    second = done(pipeline, ALICE, text(changed=1))
    assert len(Counting.inputs) == 4 and "Paragraph 1, sentence 0, is altered" in Counting.inputs[-1]
    assert second["cache"] == {"hit": False, "chunksReused": 2, "chunksTotal": 3}
    audio = pipeline.request("GET", f"/v1/jobs/{second['jobId']}/audio", token=ALICE).body
    assert audio[:4] == b"RIFF" and len(audio) == second["sizeBytes"]
