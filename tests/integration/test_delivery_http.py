"""Delivery, retention and cancel, black-box over HTTP, on both runtimes.

An OpenAI-compatible server on loopback plays the provider: a text holding
"flaky" fails once with a 503, one holding "always-503" always does. Retries
are immediate and capped at one, so the dead-letter path is seconds away;
jobs live 2 s, so the reaper's purge can be watched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from shared.audio.wav import wav_bytes
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "erin-token"
KEY = "sk-loopback-delivery"
TTL = 2


class Provider(FakeProvider):
    calls: dict[str, int] = {}
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        text = self.json_body()["input"]
        with self.lock:
            self.calls[text] = n = self.calls.get(text, 0) + 1
        if "always-503" in text or ("flaky" in text and n == 1):
            body, status, ctype = b'{"error": {"message": "overloaded"}}', 503, "application/json"
        else:
            body, status, ctype = wav_bytes(b"\x01\x00" * 2400, 24000), 200, "audio/wav"
        self.reply(status, body, ctype)


@pytest.fixture(scope="module")
def provider(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(Provider) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, provider: str, runtime: str) -> Iterator[Pipeline]:
    Provider.calls.clear()
    env = {
        "API_TOKENS": f"erin:{TOKEN}",
        "OPENAI_API_KEY": KEY,
        "OPENAI_BASE_URL": provider,
        "RETRY_BASE_SECONDS": "0",
        "QUEUE_MAX_RETRIES": "1",
        "QUEUE_MAX_BATCH_TIMEOUT": "0.2",
        "JOB_TTL_SECONDS": str(TTL),
    }
    p = Pipeline(tmp_path_factory.mktemp("delivery"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def test_a_transient_provider_failure_is_retried_then_completes(pipeline: Pipeline) -> None:
    text = f"flaky {pipeline.runtime}"
    job = pipeline.submit(text, token=TOKEN, model="openai/tts-1", format="wav")
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=60)
    assert done["status"] == "completed", done
    assert done["attempts"] == 2 and Provider.calls[text] == 2


def test_exhausted_retries_fail_the_job_through_the_dead_letter_queue(pipeline: Pipeline) -> None:
    text = f"always-503 {pipeline.runtime}"
    job = pipeline.submit(text, token=TOKEN, model="openai/tts-1", format="wav")
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=90, until=("failed", "completed"))
    assert done["status"] == "failed", done
    assert "gave up after 2 attempts" in done["error"], done
    assert Provider.calls[text] == 2  # first delivery + QUEUE_MAX_RETRIES, nothing more
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN).status == 409


def test_an_expired_job_is_gone_at_once_and_the_reaper_deletes_its_audio(pipeline: Pipeline) -> None:
    job = pipeline.submit("short lived", token=TOKEN)
    done = pipeline.wait(job["jobId"], token=TOKEN)
    assert done["status"] == "completed", done
    assert any(job["jobId"] in key for key in pipeline.object_keys())
    time.sleep(TTL + 1)
    for suffix in ("", "/audio", "/result"):
        assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}{suffix}", token=TOKEN).status == 404
    assert pipeline.request("GET", "/__scheduled", token=TOKEN).status == 200
    assert not any(job["jobId"] in key for key in pipeline.object_keys())


def test_a_job_deleted_while_queued_never_leaves_audio(pipeline: Pipeline) -> None:
    job = pipeline.submit("cancel me " * 200, token=TOKEN)
    assert pipeline.request("DELETE", f"/v1/jobs/{job['jobId']}", token=TOKEN).status == 204
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).status == 404
    time.sleep(2)  # the queued message is delivered and finds no job
    assert not any(job["jobId"] in key for key in pipeline.object_keys())
