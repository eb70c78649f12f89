"""Workers AI through the AI binding, in real workerd, offline: ``cloudflare_adapters/ai.py`` against the
dev-only stand-in (``tooling/workerd/ai_standin.mjs``) that answers ``env.AI.run`` with the shapes and errors
Workers AI documents: melotts's ``{audio: <base64 MP3>}``, aura's stream of audio, its error codes and its
per-model rate limit.

workerd only: the local runtime has no AI binding (it reaches Workers AI over the REST API, tested in
tests/unit/synthesis/providers). The default model is the Workers' own (wrangler.toml: melotts).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from shared.audio.mp3 import parse_mp3
from shared.audio.wav import parse_wav
from tests.integration.harness import Pipeline
from tests.tiers import tier_unavailable

pytestmark = [pytest.mark.slow, pytest.mark.workerd]

MELOTTS = "@cf/myshell-ai/melotts"
AURA_1 = "@cf/deepgram/aura-1"
AURA_2 = "@cf/deepgram/aura-2-en"
RATE_LIMIT = 3  # aura-2-en requests per RATE_PERIOD seconds in the stand-in (Workers AI's is 720 a minute)
RATE_PERIOD = 4


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    if os.environ.get("TTS_SKIP_WORKERD") == "1":
        tier_unavailable("TTS_SKIP_WORKERD=1")
    from tooling.workerd import toolchain

    try:
        toolchain.Toolchain.locate()
    except toolchain.ToolchainError as exc:
        tier_unavailable(f"workerd tier: {exc}")
    env = {
        "DEFAULT_MODEL": "",  # the Workers' own default (wrangler.toml)
        "RETRY_BASE_SECONDS": "1",
        "AI_STANDIN_RATE_LIMIT": str(RATE_LIMIT),
        "AI_STANDIN_RATE_PERIOD": str(RATE_PERIOD),
    }
    p = Pipeline(tmp_path_factory.mktemp("workers-ai"), env=env, runtime="workerd").start()
    yield p
    p.stop()


def audio(pipeline: Pipeline, job: dict[str, Any]) -> bytes:
    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio")
    assert reply.status == 200, reply.body
    return reply.body


def test_melotts_is_the_default_and_its_base64_mp3_becomes_the_jobs_audio(pipeline: Pipeline) -> None:
    models = pipeline.request("GET", "/v1/models").json()
    assert models["defaultModel"] == MELOTTS
    offered = {m["id"]: m for m in models["models"]}
    assert {MELOTTS, AURA_1, AURA_2} <= set(offered)
    assert offered[MELOTTS]["formats"] == ["mp3"] and "en" in offered[MELOTTS]["voices"]
    assert "luna" in offered[AURA_2]["voices"] and "wav" in offered[AURA_1]["formats"]
    job = pipeline.submit("Hello from Workers AI")
    assert job["model"] == MELOTTS
    done = pipeline.wait(job["jobId"])
    assert done["status"] == "completed", done
    mp3 = parse_mp3(audio(pipeline, done))
    assert mp3.sample_rate == 44100 and mp3.samples > 0


@pytest.mark.parametrize(("model", "fmt", "rate"), [(AURA_1, "wav", 16000), (AURA_1, "mp3", 22050), (AURA_2, "pcm", 24000)])
def test_aura_streams_the_audio_in_the_format_asked(pipeline: Pipeline, model: str, fmt: str, rate: int) -> None:
    text = "Hello from aura, streamed."
    job = pipeline.submit(text, model=model, format=fmt, sampleRate=rate, voiceId="luna")
    done = pipeline.wait(job["jobId"])
    assert done["status"] == "completed", done
    body = audio(pipeline, done)
    if fmt == "wav":
        info = parse_wav(body)
        assert info.sample_rate == rate and abs(info.duration_seconds - len(text) * 0.06) < 0.01
    elif fmt == "mp3":
        assert parse_mp3(body).sample_rate == 22050
    else:
        assert len(body) == round(len(text) * 0.06 * rate) * 2  # s16le: the stand-in's 60 ms a character


def test_a_long_text_is_sent_in_chunks_of_what_aura_takes(pipeline: Pipeline) -> None:
    text = " ".join(["Aura takes two thousand characters a request, so this goes in pieces."] * 40)  # ~2,800
    job = pipeline.submit(text, model=AURA_1, format="wav", sampleRate=24000)
    done = pipeline.wait(job["jobId"], timeout=90)
    assert done["status"] == "completed", done
    assert done["progress"]["total"] >= 2 and done["progress"]["done"] == done["progress"]["total"], done
    assert parse_wav(audio(pipeline, done)).duration_seconds > 2000 * 0.06


def test_a_permanent_error_fails_the_job_with_its_code(pipeline: Pipeline) -> None:
    job = pipeline.submit("[[ai-error 5007]] no such model", model=AURA_1)
    done = pipeline.wait(job["jobId"])
    assert done["status"] == "failed" and done["attempts"] == 1, done
    assert "5007" in done["error"]


def test_out_of_capacity_is_retried_and_the_job_completes(pipeline: Pipeline) -> None:
    job = pipeline.submit("[[ai-error 3040 once]] busy for a moment")
    done = pipeline.wait(job["jobId"], timeout=60)
    assert done["status"] == "completed" and done["attempts"] == 2, done


def test_the_rate_limit_delays_jobs_past_it_and_all_complete(pipeline: Pipeline) -> None:
    jobs = [pipeline.submit(f"Rate limited job {i}.", model=AURA_2, format="wav") for i in range(RATE_LIMIT + 2)]
    done = [pipeline.wait(j["jobId"], timeout=90) for j in jobs]
    assert all(d["status"] == "completed" for d in done), done
    assert max(d["attempts"] for d in done) > 1  # some met 3040 (429) and were retried after a backoff
