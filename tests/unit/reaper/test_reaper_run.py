"""run_reaper on in-memory fakes: the summary, the budget, errors, dry run."""

from __future__ import annotations

import io
import json

import pytest

from shared.config import Settings
from shared.consumer import object_metadata
from shared.dependencies import Dependencies
from shared.jobs.reaper_state import ReaperLease
from shared.jobs.shard import Claim, Complete, Create, Fail, Get
from shared.keys import audio_key, upload_record_key
from shared.models import JobRecord, JobStatus
from shared.reaper import run_reaper
from shared.reaper.lease import LEASE_NAME, LEASE_SHARD
from tests.fakes import FakeClock, MemoryBucket, MemoryQueue, MemoryShards, bootstrap_test_app

SHARDS = 2


@pytest.fixture
def shards(clock: FakeClock) -> MemoryShards:
    return MemoryShards(clock, shard_count=SHARDS)


@pytest.fixture
def bucket(clock: FakeClock) -> MemoryBucket:
    return MemoryBucket(clock)


@pytest.fixture
def logs() -> io.StringIO:
    return io.StringIO()


def deps(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO,
    webhook_queue: MemoryQueue | None = None, **settings: object,
) -> Dependencies:
    config = Settings(shard_count=SHARDS, reaper_sweep_interval_seconds=0, **settings)  # type: ignore[arg-type]
    return bootstrap_test_app(
        config, clock=clock, shards=shards, bucket=bucket, queue=MemoryQueue(), webhook_queue=webhook_queue,
        log_stream=logs,
    ).acting_as("reaper")


async def completed(shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, n: int, ttl: int = 60) -> JobRecord:
    job_id = f"{n:032x}"
    now = clock()
    record = JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="x", model="tone", format="wav",
                       created_at=now, updated_at=now, ttl_seconds=ttl)
    await shards.client.call(Create(record=record))
    claimed = await shards.client.call(Claim(job_id=job_id, lease_seconds=120))
    key = audio_key(job_id, now, "wav")
    info = await bucket.put(key, b"audio", content_type="audio/wav", custom_metadata=object_metadata(claimed, now))
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


async def test_a_run_logs_one_json_summary_with_fixed_keys(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    await completed(shards, bucket, clock, 1)
    clock.advance(61)
    report = await run_reaper(deps(shards, bucket, clock, logs))
    lines = [json.loads(line) for line in logs.getvalue().splitlines()]
    assert len(lines) == 1
    summary = lines[0]
    assert summary["event"] == "reaper_run" and summary["worker"] == "reaper"
    for key in ("runId", "dryRun", "expiredJobs", "deletedObjects", "deletedJobs", "scannedObjects",
                "deletedOrphans", "resentJobs", "requeuedJobs", "failedJobs", "errors", "durationMs", "calls"):
        assert key in summary
    assert summary["deletedJobs"] == 1 and summary["runId"] == report.run_id
    assert "cursor" in report.to_json_dict()


async def test_a_small_budget_stops_the_purge_and_the_next_runs_finish_it(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    for n in range(2_500):
        await completed(shards, bucket, clock, n)
    clock.advance(61)
    reaper = deps(shards, bucket, clock, logs, reaper_max_operations=12)
    first = await run_reaper(reaper)
    assert first.budget_exhausted and 0 < first.deleted_jobs < 2_500
    assert sum(first.calls.values()) <= 12
    total = first.deleted_jobs
    # Each run's budget is in operations and wall-clock seconds; on a loaded
    # machine a run may do less, so allow many runs: the promise is progress.
    for _ in range(200):
        total += (await run_reaper(reaper)).deleted_jobs
        if total == 2_500:
            break
    assert total == 2_500 and bucket.objects == {}


class BrokenDeletes(MemoryBucket):
    async def delete(self, keys: object) -> None:
        raise ConnectionError("R2 unavailable")


async def test_a_failing_bucket_is_reported_and_no_row_loses_its_audio_first(
    shards: MemoryShards, clock: FakeClock, logs: io.StringIO
) -> None:
    bucket = BrokenDeletes(clock)
    record = await completed(shards, bucket, clock, 7)
    clock.advance(61)
    report = await run_reaper(deps(shards, bucket, clock, logs))
    assert report.errors and any("R2 unavailable" in e for e in report.errors)
    assert await shards.client.call(Get(job_id=record.job_id)) is not None  # rows stay until their audio is gone
    assert record.audio_key in bucket.objects


async def test_the_sweep_waits_for_its_interval_between_passes(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    await completed(shards, bucket, clock, 1, ttl=86_400)
    reaper = deps(shards, bucket, clock, logs)
    reaper.settings = Settings(shard_count=SHARDS, reaper_sweep_interval_seconds=3600)
    assert (await run_reaper(reaper)).sweep_pass_complete
    clock.advance(60)
    assert (await run_reaper(reaper)).sweep == "waiting"
    clock.advance(3600)
    assert (await run_reaper(reaper)).sweep == "ran"


async def test_dry_run_writes_nothing_at_all(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    await completed(shards, bucket, clock, 1)
    clock.advance(61)
    shards.calls.clear()
    report = await run_reaper(deps(shards, bucket, clock, logs, reaper_dry_run=True))
    assert report.dry_run and report.deleted_jobs == 1 and len(bucket.objects) == 1
    written = {m for _, m in shards.calls} - {"reaperLease", "expired", "stale", "lookup"}
    assert written == set()
    lease = await shards.client.call(
        ReaperLease(name=LEASE_NAME, holder="probe", now=clock(), until=clock() + 1, peek=True),
        shard=LEASE_SHARD,
    )
    assert lease["holder"] is None  # the dry run took no lease


async def test_partial_audio_of_long_jobs_goes_once_its_job_is_finished_or_gone(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    now = clock()
    for n, status in ((1, JobStatus.PROCESSING), (2, JobStatus.FAILED), (3, None)):
        job_id = f"{n:032x}"
        if status is not None:
            await shards.client.call(
                Create(
                    record=JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="x",
                                                 model="tone", format="wav", created_at=now, updated_at=now,
                                                 ttl_seconds=86_400),
                )
            )
            await shards.client.call(Claim(job_id=job_id, lease_seconds=120))
            if status is JobStatus.FAILED:
                await shards.client.call(Fail(job_id=job_id, error="gave up"))
        for index in range(3):
            await bucket.put(f"tmp/{job_id}/00000000000000aa/{index:05d}", b"chunk", content_type="audio/wav",
                             custom_metadata={"jobId": job_id})
    await bucket.put("notes/readme.txt", b"not the reaper's", content_type="text/plain", custom_metadata={})
    clock.advance(3601)
    report = await run_reaper(deps(shards, bucket, clock, logs))
    assert report.deleted_orphans == 6
    assert sorted(bucket.objects) == ["notes/readme.txt"] + [f"tmp/{1:032x}/00000000000000aa/{i:05d}" for i in range(3)]


async def test_a_stuck_job_the_reaper_fails_announces_its_webhook(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    # GIVEN a job that wants a webhook on failure and is stuck in queued for good
    now = clock()
    stuck = JobRecord(job_id="f" * 32, tenant="t", status=JobStatus.QUEUED, text="x", model="tone", format="wav",
                      created_at=now, updated_at=now, ttl_seconds=60,
                      webhook_url="https://hooks.example.com/tts", webhook_events="failed")
    await shards.client.call(Create(record=stuck))
    outbox = MemoryQueue()
    reaper = deps(shards, bucket, clock, logs, outbox)
    clock.advance(reaper.settings.reaper_give_up_seconds + 1)
    # WHEN the reaper repairs it
    report = await run_reaper(reaper)
    # THEN it is failed and its receiver hears about it, once
    assert report.failed_jobs == 1
    assert [body["event"] for body, _ in outbox.sent] == ["failed"]
    await run_reaper(reaper)
    assert len(outbox.sent) == 1


async def test_the_sweep_aborts_the_upload_an_orphaned_upload_record_names(
    shards: MemoryShards, bucket: MemoryBucket, clock: FakeClock, logs: io.StringIO
) -> None:
    """A long job that crashed mid-assembly and was then deleted: its multipart upload is aborted, not left for R2."""
    gone, live = f"{7:032x}", f"{8:032x}"
    now = clock()
    await shards.client.call(
        Create(
            record=JobRecord(job_id=live, tenant="t", status=JobStatus.QUEUED, text="x", model="tone",
                                         format="wav", created_at=now, updated_at=now, ttl_seconds=86_400),
        )
    )
    await shards.client.call(Claim(job_id=live, lease_seconds=120))
    uploads = {}
    for job_id in (gone, live):
        key = audio_key(job_id, now, "wav")
        uploads[job_id] = (await bucket.create_multipart_upload(key, content_type="audio/wav", custom_metadata={})).upload_id
        await bucket.upload_part(key, uploads[job_id], 1, b"part one")
        record = upload_record_key(job_id, "00000000000000aa")
        meta = {"jobId": job_id, "uploadId": uploads[job_id], "uploadKey": key}
        await bucket.put(record, b"", content_type="application/octet-stream", custom_metadata=meta)
        await bucket.put(f"{record}/00001", b"", content_type="application/octet-stream",
                         custom_metadata={"jobId": job_id, "uploadId": uploads[job_id], "etag": "e"})
    clock.advance(3601)
    report = await run_reaper(deps(shards, bucket, clock, logs))
    assert report.aborted_uploads == 1 and report.deleted_orphans == 2 and report.calls["abort"] == 1
    assert bucket.uploads[uploads[gone]].state == "aborted"
    assert bucket.in_progress() == [uploads[live]]  # its job may still be assembling it
    assert sorted(k for k in bucket.objects if k.startswith("tmp/")) == [
        upload_record_key(live, "00000000000000aa"), f"{upload_record_key(live, '00000000000000aa')}/00001"
    ]
