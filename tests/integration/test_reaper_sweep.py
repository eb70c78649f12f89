"""The orphan sweep on the local runtime: grace, live audio, a resumable cursor."""

from __future__ import annotations

import asyncio
from pathlib import Path

from local_runtime.runtime import LocalRuntime
from shared.consumer import object_metadata
from shared.jobs.shard import Claim, Fail, Get
from shared.keys import audio_key
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock
from tests.integration.reaper_support import (
    call,
    completed_job,
    drain,
    keys,
    put_like_consumer,
    reaper_runtime,
    submit,
)

GRACE = 600


async def crashed_after_put(rt: LocalRuntime) -> tuple[JobRecord, str]:
    """A consumer claimed the job, wrote its audio and died before completing it."""
    job_id = await submit(rt)
    await drain(rt, lose=True)  # the delivery that crashed
    record = await rt.jobs.call(Claim(job_id=job_id, lease_seconds=rt.settings.lease_seconds))
    return record, await put_like_consumer(rt, record)


async def test_orphan_from_crash_between_put_and_complete_is_removed_after_grace_and_live_audio_never(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        live = await completed_job(rt)
        # 1. crashed after put, then the client deleted the job: the job is gone.
        deleted, deleted_key = await crashed_after_put(rt)
        assert (await call(rt, "DELETE", f"/v1/jobs/{deleted.job_id}"))[0] == 204
        # 2. crashed after put, then the job failed for good: the audio has no owner.
        failed, failed_key = await crashed_after_put(rt)
        await rt.jobs.call(Fail(job_id=failed.job_id, error="gave up"))
        # 3. crashed after put and still processing: its key may be rewritten any moment.
        running, running_key = await crashed_after_put(rt)

        clock.advance(GRACE - 1)  # the orphans are not old enough yet
        first = await rt.scheduled()
        assert first["scannedObjects"] == 4 and first["deletedOrphans"] == 0
        assert await keys(rt) == {live.audio_key, deleted_key, failed_key, running_key}

        clock.advance(2)
        second = await rt.scheduled()
        assert second["errors"] == []
        assert second["deletedOrphans"] == 2 and second["sweepPassComplete"] is True
        assert await keys(rt) == {live.audio_key, running_key}
        status, audio = await call(rt, "GET", f"/v1/jobs/{live.job_id}/audio")
        assert status == 200 and audio[:4] == b"RIFF"
        running_now = await rt.jobs.call(Get(job_id=running.job_id))
        assert running_now is not None and running_now.status is JobStatus.PROCESSING


async def test_object_of_a_job_completed_with_another_key_is_an_orphan(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        live = await completed_job(rt)
        stray = audio_key(live.job_id, live.created_at, "mp3")  # an earlier attempt in another format
        await rt.bucket.put(stray, b"ID3", content_type="audio/mpeg", custom_metadata=object_metadata(live, clock()))
        clock.advance(GRACE + 1)
        report = await rt.scheduled()
        assert report["deletedOrphans"] == 1
        assert await keys(rt) == {live.audio_key}


async def test_sweep_cursor_resumes_across_runs_on_a_bucket_larger_than_one_page(tmp_path: Path) -> None:
    clock = FakeClock()
    # A budget that lets the sweep do about one page of 1,000 per run.
    async with reaper_runtime(tmp_path, clock, REAPER_MAX_OPERATIONS="25") as rt:
        live = [await completed_job(rt) for _ in range(3)]
        created = clock()
        orphans = [audio_key(f"{i:032x}", created, "wav") for i in range(2_500)]  # no job has these ids

        async def put(key: str) -> None:
            await rt.bucket.put(key, b"x", content_type="audio/wav", custom_metadata={"jobId": key[-36:-4]})

        for start in range(0, len(orphans), 100):
            await asyncio.gather(*(put(k) for k in orphans[start : start + 100]))
        total = len(orphans) + len(live)
        clock.advance(GRACE + 1)

        reports = []
        while not (reports and reports[-1]["sweepPassComplete"]):
            reports.append(await rt.scheduled())
            assert reports[-1]["errors"] == [] and len(reports) < 10
            if not reports[-1]["sweepPassComplete"]:
                cursor = reports[-1]["cursor"]
                assert cursor is not None
                # Everything up to the cursor is judged; nothing after it yet.
                remaining = await keys(rt)
                assert all(k not in remaining for k in orphans if k <= cursor)
                assert all(k in remaining for k in orphans if k > cursor)

        assert len(reports) >= 2  # it took several runs
        # Each object was listed once over the pass: the runs resumed, never restarted.
        assert sum(r["scannedObjects"] for r in reports) == total
        assert [r["cursor"] for r in reports[:-1]] == sorted(r["cursor"] for r in reports[:-1])
        assert await keys(rt) == {j.audio_key for j in live}
