"""The synthesis cache's keys and entries: what a key covers, scopes, expiry, and a reuse read."""

from __future__ import annotations

import dataclasses

import pytest

from shared.config import ConfigError, Settings
from shared.models import JobRecord, JobStatus
from shared.synthesis.cache import (
    CACHE_PREFIX,
    HIT_MARGIN_SECONDS,
    ChunkContent,
    cache_key,
    content_of,
    job_cache,
    lookup,
    reuse_job_audio,
    scope_for,
)
from tests.fakes import FakeClock, MemoryBucket

BASE = ChunkContent(
    request="Hello there.", role="chunk", provider="openai", model="openai/tts-1", voice="alloy", format="wav",
    sample_rate=24000, speed=1.0, instructions=None, lexicons=None, timestamps=None,
)


def record(**fields: object) -> JobRecord:
    base: dict[str, object] = {
        "job_id": "a" * 32, "tenant": "alice", "status": JobStatus.PROCESSING, "model": "openai/tts-1",
        "format": "wav", "voice_id": "alloy", "created_at": 1000.0, "updated_at": 1000.0, "ttl_seconds": 3600,
        "text": "Hello there.", "cache_scope": scope_for("tenant", "alice", None),
    }
    base.update(fields)
    return JobRecord.model_validate(base)


@pytest.mark.parametrize(
    "change",
    [
        {"request": "Hello there!"}, {"role": "job"}, {"provider": "other"}, {"model": "openai/tts-1-hd"},
        {"voice": "nova"}, {"format": "pcm"}, {"sample_rate": 16000}, {"speed": 1.25}, {"instructions": "calm"},
        {"lexicons": "names@0123456789abcdef"}, {"timestamps": "word"},
    ],
)
def test_the_key_covers_everything_the_audio_depends_on(change: dict[str, object]) -> None:
    assert cache_key("global", dataclasses.replace(BASE, **change)) != cache_key("global", BASE)  # type: ignore[arg-type]


def test_the_key_is_stable_and_scoped() -> None:
    key = cache_key("global", BASE)
    assert key == cache_key("global", dataclasses.replace(BASE))
    assert key.startswith(CACHE_PREFIX + "global/") and len(key) == len("cache/global/") + 64
    alice, bob = scope_for("tenant", "alice", None), scope_for("tenant", "bob", True)
    assert alice != bob and alice is not None and "alice" not in alice
    assert cache_key(alice, BASE) != cache_key(bob, BASE)  # type: ignore[arg-type]
    assert scope_for("global", "alice", None) == scope_for("global", "bob", None) == "global"
    assert scope_for("off", "alice", True) is None and scope_for("tenant", "alice", False) is None


def test_the_setting_takes_three_values() -> None:
    assert Settings.from_env({}).synthesis_cache == "tenant"
    assert Settings.from_env({"SYNTHESIS_CACHE": "Global"}).synthesis_cache == "global"
    with pytest.raises(ConfigError, match="SYNTHESIS_CACHE must be one of tenant, global, off"):
        Settings.from_env({"SYNTHESIS_CACHE": "shared"})


def test_a_job_with_word_timings_or_no_scope_skips_the_cache() -> None:
    clock = FakeClock()
    assert job_cache(record(), "openai", clock, 900) is not None
    assert job_cache(record(timestamps="word"), "openai", clock, 900) is None
    assert job_cache(record(cache_scope=None), "openai", clock, 900) is None


async def test_an_entry_is_a_hit_until_close_to_its_expiry_and_a_reuse_moves_its_expiry() -> None:
    clock = FakeClock()
    bucket = MemoryBucket(clock)
    writer = job_cache(record(ttl_seconds=600), "openai", clock, 900)
    assert writer is not None
    key = writer.key("Hello there.", "job")
    assert key == cache_key(writer.scope, content_of(writer.record, "Hello there.", "job", "openai"))
    await writer.keep(bucket, key, b"RIFFdata", content_type="audio/wav", fmt="wav", sample_rate=24000, layout=None,
                      characters=12)
    found = await lookup(bucket, key, clock())
    assert found is not None and found.expires_at == clock() + 600 + 600 and found.characters == 12
    clock.advance(1200 - HIT_MARGIN_SECONDS)
    assert await lookup(bucket, key, clock()) is None  # too close to its expiry: the reaper may take it

    clock.advance(-600)
    reader = job_cache(record(job_id="b" * 32, ttl_seconds=3600), "openai", clock, 900)
    assert reader is not None
    result = await reuse_job_audio(bucket, reader, "Hello there.")
    assert result is not None and result.audio == b"RIFFdata" and result.characters == 0
    assert result.chunks_reused == 1 and result.characters_saved == 12
    again = await lookup(bucket, key, clock())
    assert again is not None and again.expires_at == clock() + 3600 + 900  # written again for the longer retention


@pytest.mark.parametrize("cache", [None, False, True])
def test_the_speech_route_passes_cache_on_to_its_job(cache: bool | None) -> None:
    from types import SimpleNamespace

    from shared.api.speech import SpeechRequest, to_job_request
    from shared.synthesis.catalogue import Catalogue, tone_spec

    deps = SimpleNamespace(settings=Settings.from_env({}), catalogue=Catalogue([tone_spec()], default_model="tone"))
    fields = {} if cache is None else {"cache": cache}
    body = SpeechRequest.model_validate({"model": "tone", "input": "Hi.", "voice": "alloy", **fields})
    assert to_job_request(deps, body).cache is cache  # type: ignore[arg-type]
