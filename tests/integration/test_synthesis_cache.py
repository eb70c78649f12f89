"""The synthesis cache on the local runtime, with a counting OpenAI-compatible provider on loopback.

Queue messages are delivered by hand (``drain``) and the clock is a fake, so
each test counts exactly the provider calls a submit makes and moves time
past a retention to see the reaper's sweep remove what expired.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from local_runtime.runtime import LocalRuntime
from shared.http import HttpRequest
from shared.synthesis.cache import CACHE_PREFIX
from shared.text.chunking import chunk_texts
from tests.fakes import FakeClock
from tests.integration.loopback_http import CountingSpeech, serving
from tests.integration.reaper_support import drain, keys, reaper_runtime

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"
KEY = "sk-loopback-test-key"
MODEL = "openai/tts-1"


class CountingOpenAI(CountingSpeech):
    inputs: list[str] = []


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with serving(CountingOpenAI) as url:
        yield url


@asynccontextmanager
async def runtime(tmp_path: Path, provider: str, **env: str) -> AsyncIterator[tuple[LocalRuntime, FakeClock]]:
    CountingOpenAI.inputs.clear()
    clock = FakeClock()
    settings = {
        "API_TOKENS": f"alice:{ALICE},bob:{BOB}", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": provider,
        "MAX_AUDIO_BYTES": "1000000000", "SYNTHESIS_CACHE": "tenant", **env,
    }
    async with reaper_runtime(tmp_path, clock, **settings) as rt:
        yield rt, clock


async def call(rt: LocalRuntime, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {token}"}
    if body is not None:
        headers["content-type"] = "application/json"
    reply = await rt.handle(HttpRequest.build(method, path, headers=headers, body=raw))
    if reply.blob is not None:
        return reply.status, await reply.blob.read()
    try:
        return reply.status, json.loads(reply.body) if reply.body else None
    except ValueError:
        return reply.status, reply.body


async def submit(rt: LocalRuntime, token: str, text: str, **fields: Any) -> tuple[int, dict[str, Any]]:
    return await call(rt, token, "POST", "/v1/jobs", {"text": text, "model": MODEL, "format": "wav", **fields})


async def finished(rt: LocalRuntime, token: str, text: str, **fields: Any) -> dict[str, Any]:
    """Submit, deliver every message, and return the job as the API shows it (completed)."""
    status, job = await submit(rt, token, text, **fields)
    assert status in (200, 202), job
    await drain(rt)
    status, job = await call(rt, token, "GET", f"/v1/jobs/{job['jobId']}")
    assert status == 200 and job["status"] == "completed", job
    return job


def calls() -> int:
    return len(CountingOpenAI.inputs)


def paragraphs(changed: int | None = None) -> str:
    """Ten paragraphs of about 3,000 characters each: ten chunks of tts-1's 4,096."""
    out = []
    for p in range(10):
        word = "altered" if p == changed else "written"
        out.append(" ".join(f"Paragraph {p}, sentence {i}, is {word} here to be read aloud." for i in range(58)))
    return "\n\n".join(out)


async def test_a_repeated_job_completes_at_submit_without_a_provider_call(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, _):
        first = await finished(rt, ALICE, "Welcome back. Your order has shipped.")
        assert calls() == 1
        assert first["cache"] == {"hit": False, "chunksReused": 0, "chunksTotal": 1}
        assert first["characters"] == len("Welcome back. Your order has shipped.")

        sent_before = rt.meter.get("queue.write")
        status, second = await submit(rt, ALICE, "Welcome back. Your order has shipped.")
        assert status == 200 and second["status"] == "completed", second  # at submit: no message, no call
        assert calls() == 1
        assert rt.meter.get("queue.write") == sent_before
        assert await drain(rt) == 0
        assert second["cache"] == {"hit": True, "chunksReused": 1, "chunksTotal": 1}
        assert second["characters"] == 0
        assert rt.meter.get("cache.characters_saved") == len("Welcome back. Your order has shipped.")
        a = (await call(rt, ALICE, "GET", f"/v1/jobs/{first['jobId']}/audio"))[1]
        b = (await call(rt, ALICE, "GET", f"/v1/jobs/{second['jobId']}/audio"))[1]
        assert a[:4] == b"RIFF" and a == b
        # The old contract's view of the same job still works.
        status, legacy = await call(rt, ALICE, "GET", f"/v1/jobs/{second['jobId']}/result")
        assert status == 200 and set(legacy) == {"jobId", "status", "base64Audio", "mimeType"}
        assert legacy["status"] == "completed"

        # OpenAI's speech route answers at once from the same entry.
        status, audio = await call(
            rt, ALICE, "POST", "/v1/audio/speech",
            {"model": MODEL, "input": "Welcome back. Your order has shipped.", "voice": "alloy",
             "response_format": "wav"},
        )
        assert status == 200 and audio == a
        assert calls() == 1

        # "cache": false skips it: synthesized again, nothing reused.
        skipped = await finished(rt, ALICE, "Welcome back. Your order has shipped.", cache=False)
        assert calls() == 2 and "cache" not in skipped


async def test_an_edited_paragraph_is_the_only_chunk_synthesized_again(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, _):
        original, edited = paragraphs(), paragraphs(changed=6)
        assert len(chunk_texts(original, 4096, stable=True)) == 10
        first = await finished(rt, ALICE, original)
        assert calls() == 10 and first["cache"] == {"hit": False, "chunksReused": 0, "chunksTotal": 10}

        second = await finished(rt, ALICE, edited)
        assert calls() == 11  # the edited paragraph's chunk only
        assert "Paragraph 6, sentence 0, is altered" in CountingOpenAI.inputs[-1]
        assert second["cache"] == {"hit": False, "chunksReused": 9, "chunksTotal": 10}
        audio = (await call(rt, ALICE, "GET", f"/v1/jobs/{second['jobId']}/audio"))[1]
        assert audio[:4] == b"RIFF" and len(audio) == second["sizeBytes"]

        # Every chunk cached: no provider call; the consumer joins the entries.
        third = await finished(rt, ALICE, edited)
        assert calls() == 11
        assert third["cache"] == {"hit": True, "chunksReused": 10, "chunksTotal": 10}
        assert (await call(rt, ALICE, "GET", f"/v1/jobs/{third['jobId']}/audio"))[1] == audio


async def test_another_tenant_pays_for_its_own_audio_under_the_default_scope(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, _):
        await finished(rt, ALICE, "A line both tenants say.")
        status, bob = await submit(rt, BOB, "A line both tenants say.")
        assert status == 202 and bob["status"] == "queued"  # no hint that Alice made it
        await drain(rt)
        assert calls() == 2


async def test_the_global_scope_shares_entries_across_tenants(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider, SYNTHESIS_CACHE="global") as (rt, _):
        await finished(rt, ALICE, "A line both tenants say.")
        status, bob = await submit(rt, BOB, "A line both tenants say.")
        assert status == 200 and bob["cache"]["hit"] is True and calls() == 1


async def test_off_skips_the_cache(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider, SYNTHESIS_CACHE="off") as (rt, _):
        await finished(rt, ALICE, "Said twice.")
        job = await finished(rt, ALICE, "Said twice.")
        assert calls() == 2 and "cache" not in job
        assert not any(k.startswith(CACHE_PREFIX) for k in await keys(rt))


async def test_deleting_one_job_leaves_the_audio_of_another(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, clock):
        a = await finished(rt, ALICE, "Shared words.")
        status, b = await submit(rt, ALICE, "Shared words.")
        assert status == 200 and b["status"] == "completed"
        before = (await call(rt, ALICE, "GET", f"/v1/jobs/{b['jobId']}/audio"))[1]
        assert (await call(rt, ALICE, "DELETE", f"/v1/jobs/{a['jobId']}"))[0] in (200, 204)
        clock.advance(700)  # past the orphan grace: the sweep judges every object
        report = await rt.scheduled()
        assert report["errors"] == []
        status, after = await call(rt, ALICE, "GET", f"/v1/jobs/{b['jobId']}/audio")
        assert status == 200 and after == before
        # And the cache entry stays for the next job (it lives as long as the retention of its users).
        status, c = await submit(rt, ALICE, "Shared words.")
        assert status == 200 and calls() == 1


async def test_expiry_removes_cached_audio_after_its_last_user(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, clock):
        await finished(rt, ALICE, "Short lived.", ttlSeconds=600)
        entries = {k for k in await keys(rt) if k.startswith(CACHE_PREFIX)}
        assert len(entries) == 1
        clock.advance(400)
        # A second user with a longer retention: its hit writes the entry again with its own expiry.
        status, later = await submit(rt, ALICE, "Short lived.", ttlSeconds=3600)
        assert status == 200 and later["cache"]["hit"] is True and calls() == 1

        clock.advance(1000)  # the first job and its own expiry have passed; the second job still lives
        await rt.scheduled()
        assert entries <= await keys(rt)
        status, _ = await call(rt, ALICE, "GET", f"/v1/jobs/{later['jobId']}/audio")
        assert status == 200

        clock.advance(3600 + 900)  # past the last user's retention (and the entry's margin)
        report = await rt.scheduled()
        assert report["expiredCacheEntries"] == 1, report
        assert not entries & await keys(rt)
        assert not any(k.startswith("audio/") for k in await keys(rt))


async def test_a_long_job_of_the_shortest_retention_joins_its_own_chunks_without_paying_twice(
    tmp_path: Path, provider: str
) -> None:
    async with runtime(tmp_path, provider) as (rt, _):
        text = "\n\n".join(paragraphs().split("\n\n")[:3])
        job = await finished(rt, ALICE, text, ttlSeconds=60)
        assert calls() == 3 and job["cache"]["chunksTotal"] == 3


async def test_ssml_is_reused_by_the_consumer(tmp_path: Path, provider: str) -> None:
    async with runtime(tmp_path, provider) as (rt, _):
        ssml = '<speak>Doors open at <say-as interpret-as="cardinal">7</say-as>.<break time="400ms"/> Welcome.</speak>'
        first = await finished(rt, ALICE, ssml, textType="ssml")
        made = calls()
        assert made >= 1 and first["cache"]["hit"] is False
        status, queued = await submit(rt, ALICE, ssml, textType="ssml")
        assert status == 202  # planned by the consumer (it holds the rendering), which finds every request cached
        await drain(rt)
        status, second = await call(rt, ALICE, "GET", f"/v1/jobs/{queued['jobId']}")
        assert second["status"] == "completed" and second["cache"]["hit"] is True and calls() == made
        a = (await call(rt, ALICE, "GET", f"/v1/jobs/{first['jobId']}/audio"))[1]
        assert (await call(rt, ALICE, "GET", f"/v1/jobs/{second['jobId']}/audio"))[1] == a
