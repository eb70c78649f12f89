"""The timings object lives and dies with the audio: the reaper's purge deletes both, the orphan
sweep keeps a completed job's timings and removes those of jobs that are gone."""

from __future__ import annotations

import io

from shared.config import Settings
from shared.consumer import object_metadata
from shared.dependencies import Dependencies
from shared.jobs.shard import Claim, Complete, Create
from shared.keys import audio_key, job_id_from_key, timings_key
from shared.models import JobRecord, JobStatus
from shared.reaper import run_reaper
from shared.reaper.sweep import is_orphan
from tests.fakes import FakeClock, MemoryBucket, MemoryQueue, MemoryShards, bootstrap_test_app


async def completed(shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, n: int, ttl: int = 60) -> JobRecord:
    job_id = f"{n:032x}"
    now = clock()
    record = JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="x y", model="tone", format="wav",
                       created_at=now, updated_at=now, ttl_seconds=ttl, timestamps="word")
    await shards.client.call(Create(record=record))
    claimed = await shards.client.call(Claim(job_id=job_id, lease_seconds=120))
    meta = object_metadata(claimed, now)
    await bucket.put(timings_key(job_id, now), b"{}", content_type="application/json", custom_metadata=meta)
    key = audio_key(job_id, now, "wav")
    info = await bucket.put(key, b"audio", content_type="audio/wav", custom_metadata=meta)
    return await shards.client.call(
        Complete(
            job_id=job_id,
            audio_key=key,
            mime_type="audio/wav",
            size_bytes=info.size,
            etag=info.etag,
            characters=1,
        )
    )


def reaper(shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock) -> Dependencies:
    config = Settings(shard_count=2, reaper_sweep_interval_seconds=0, orphan_grace_seconds=10)
    return bootstrap_test_app(
        config, clock=clock, shards=shards, bucket=bucket, queue=MemoryQueue(), log_stream=io.StringIO()
    ).acting_as("reaper")


def test_a_timings_key_names_its_job() -> None:
    key = timings_key("a" * 32, 1_800_000_000)
    assert key == "audio/2027/01/15/" + "a" * 32 + ".words.json" and job_id_from_key(key) == "a" * 32


def test_a_completed_jobs_timings_are_not_an_orphan() -> None:
    record = JobRecord(job_id="a" * 32, tenant="t", status=JobStatus.COMPLETED, model="tone", format="wav",
                       created_at=1_800_000_000, updated_at=1_800_000_000, ttl_seconds=60, timestamps="word",
                       audio_key=audio_key("a" * 32, 1_800_000_000, "wav"))
    assert not is_orphan(timings_key("a" * 32, 1_800_000_000), record)
    assert is_orphan(timings_key("a" * 32, 1_800_000_000), record.model_copy(update={"timestamps": None}))
    assert is_orphan(timings_key("a" * 32, 1_800_000_000), None)


async def test_purge_deletes_the_timings_with_the_audio() -> None:
    clock = FakeClock()
    shards, bucket = MemoryShards(clock, shard_count=2), MemoryBucket(clock)
    keep = await completed(shards, bucket, clock, 1, ttl=10_000)
    await completed(shards, bucket, clock, 2, ttl=60)
    clock.advance(100)
    await run_reaper(reaper(shards, bucket, clock))
    assert sorted(bucket.objects) == sorted([keep.audio_key, timings_key(keep.job_id, keep.created_at)])


async def test_the_sweep_removes_timings_whose_job_is_gone() -> None:
    clock = FakeClock()
    shards, bucket = MemoryShards(clock, shard_count=2), MemoryBucket(clock)
    kept = await completed(shards, bucket, clock, 1, ttl=10_000)
    lost = await completed(shards, bucket, clock, 2, ttl=10_000)
    await shards.client.delete([lost.job_id])  # a row gone without its objects (a crash between the two)
    clock.advance(100)
    await run_reaper(reaper(shards, bucket, clock))
    assert sorted(bucket.objects) == sorted([kept.audio_key, timings_key(kept.job_id, kept.created_at)])
