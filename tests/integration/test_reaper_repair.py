"""Stuck jobs on the local runtime: a lost job is re-sent and completes."""

from __future__ import annotations

from pathlib import Path

from shared.jobs.shard import Claim, Get, Repair, RepairItem, Stale
from shared.models import JobStatus
from tests.fakes import FakeClock
from tests.integration.reaper_support import call, drain, reaper_runtime, submit

STUCK = 900
LEASE = 120


async def test_job_whose_queue_message_was_lost_is_resent_and_completes(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        job_id = await submit(rt)
        assert await drain(rt, lose=True) == 1  # the message is gone, the job sits queued

        clock.advance(STUCK - 1)
        early = await rt.scheduled()
        assert early["stuckJobs"] == 0 and rt.queue.ready_count() == 0

        clock.advance(2)
        report = await rt.scheduled()
        assert report["resentJobs"] == 1 and report["errors"] == []
        assert await drain(rt) == 1
        status, job = await call(rt, "GET", f"/v1/jobs/{job_id}")
        assert status == 200 and job["status"] == "completed"
        assert (await call(rt, "GET", f"/v1/jobs/{job_id}/audio"))[0] == 200

        # Re-sent once per stuck window, not on every run.
        again = await rt.scheduled()
        assert again["resentJobs"] == 0


async def test_job_whose_consumer_died_mid_lease_is_requeued_and_completes(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        job_id = await submit(rt)
        await drain(rt, lose=True)
        await rt.jobs.call(Claim(job_id=job_id, lease_seconds=LEASE))  # the consumer claimed it and died

        clock.advance(LEASE + STUCK - 1)  # lease ran out, but not long ago enough
        assert (await rt.scheduled())["stuckJobs"] == 0

        clock.advance(2)
        report = await rt.scheduled()
        assert report["requeuedJobs"] == 1
        record = await rt.jobs.call(Get(job_id=job_id))
        assert record is not None and record.status is JobStatus.QUEUED
        await drain(rt)
        record = await rt.jobs.call(Get(job_id=job_id))
        assert record is not None and record.status is JobStatus.COMPLETED and record.attempts == 2


async def test_stuck_poison_job_is_failed_and_then_expires(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock, MAX_LAPSED_CLAIMS="2", JOB_TTL_SECONDS="600") as rt:
        job_id = await submit(rt)
        await drain(rt, lose=True)
        for holder in ("m1", "m2", "m3"):  # three deliveries claimed it and died: two claims lapsed
            await rt.jobs.call(Claim(job_id=job_id, lease_seconds=LEASE, holder=holder))
            clock.advance(LEASE + 1)
        clock.advance(STUCK)

        report = await rt.scheduled()
        assert report["failedJobs"] == 1 and rt.queue.ready_count() == 0
        status, job = await call(rt, "GET", f"/v1/jobs/{job_id}")
        assert status == 200 and job["status"] == "failed" and "died 2 times" in job["error"], job

        clock.advance(601)
        assert (await rt.scheduled())["deletedJobs"] == 1
        assert (await call(rt, "GET", f"/v1/jobs/{job_id}"))[0] == 404


async def test_repair_never_touches_a_job_a_consumer_has_just_claimed(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        job_id = await submit(rt)
        await drain(rt, lose=True)
        clock.advance(STUCK + 1)
        stale = await rt.jobs.call(
            Stale(status=JobStatus.QUEUED, updated_before=clock() - STUCK, limit=10),
            shard=rt.jobs.shard_of(job_id),
        )
        assert [r.job_id for r in stale] == [job_id]
        await rt.jobs.call(Claim(job_id=job_id, lease_seconds=LEASE))  # a redelivery claims it after the reaper read it
        item = RepairItem(job_id=job_id, expected_updated_at=stale[0].updated_at, action="resend")
        repaired = await rt.jobs.call(Repair(items=[item]), shard=rt.jobs.shard_of(job_id))
        assert repaired == []
        record = await rt.jobs.call(Get(job_id=job_id))
        assert record is not None and record.status is JobStatus.PROCESSING
