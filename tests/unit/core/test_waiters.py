"""Waiting inside the shard (shared/jobs/waiters.py, the ``waitForChange`` RPC): bounded, a
timeout always answers, and every change of the job (claim, progress, complete, fail, cancel,
delete, repair) wakes its waiters."""

from __future__ import annotations

import asyncio

import pytest

from shared.jobs.rpc import OPERATIONS, ShardService
from shared.jobs.shard import Cancel, Claim, Complete, Create, Fail, JobShard, Progress
from shared.jobs.waiters import JobWaiters, WaitForChange
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemoryShards, MemorySql

JOB = "a" * 32
OTHER = "b" * 32


def record(clock: FakeClock, job_id: str = JOB) -> JobRecord:
    return JobRecord(
        job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="hello", model="tone", format="wav",
        created_at=clock.now, updated_at=clock.now, ttl_seconds=60,
    )


@pytest.fixture
def shards() -> MemoryShards:
    return MemoryShards(FakeClock(), shard_count=1)


async def started(coro: object) -> asyncio.Task:  # type: ignore[type-arg]
    task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done(), "the waiter answered before anything changed"
    return task


def waiters_of(shards: MemoryShards) -> JobWaiters:
    (service,) = shards.services.values()
    return service.waiters


async def test_a_timeout_answers_with_the_job_unchanged(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    job, outcome = await shards.client.call(WaitForChange(job_id=JOB, timeout=0.05))
    assert outcome == "timeout" and job is not None and job.status is JobStatus.QUEUED
    assert waiters_of(shards).count == 0


async def test_zero_timeout_answers_at_once(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    job, outcome = await shards.client.call(WaitForChange(job_id=JOB, timeout=0))
    assert outcome == "timeout" and job is not None


async def test_a_job_that_already_differs_answers_at_once(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30))
    job, outcome = await shards.client.call(WaitForChange(job_id=JOB, timeout=30, since_status=JobStatus.QUEUED))
    assert outcome == "changed" and job is not None and job.status is JobStatus.PROCESSING


async def test_unknown_job_answers_none(shards: MemoryShards) -> None:
    assert await shards.client.call(WaitForChange(job_id=JOB, timeout=30)) == (None, "changed")


async def test_claim_wakes_a_status_waiter(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    task = await started(shards.client.call(WaitForChange(job_id=JOB, timeout=30)))
    assert waiters_of(shards).waiting_on(JOB) == 1
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30))
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "changed" and job is not None and job.status is JobStatus.PROCESSING
    assert waiters_of(shards).count == 0


async def test_until_terminal_sleeps_through_claim_and_progress_then_wakes_on_complete(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    task = await started(shards.client.call(WaitForChange(job_id=JOB, timeout=30, until_terminal=True)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30))
    await shards.client.call(Progress(job_id=JOB, done=1, total=3, characters=5))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not task.done()
    await shards.client.call(
        Complete(job_id=JOB, audio_key="audio/x.wav", mime_type="audio/wav", size_bytes=4, etag="e", characters=5)
    )
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "changed" and job is not None and job.status is JobStatus.COMPLETED


async def test_progress_wakes_a_chunk_waiter(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30))
    task = await started(shards.client.call(
        WaitForChange(job_id=JOB, timeout=30, since_status=JobStatus.PROCESSING, since_done=0)
    ))
    await shards.client.call(Progress(job_id=JOB, done=1, total=3, characters=5))
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "changed" and job is not None and job.progress_done == 1


@pytest.mark.parametrize("how", ["fail", "cancel", "delete"])
async def test_fail_cancel_and_delete_wake(shards: MemoryShards, how: str) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    task = await started(shards.client.call(WaitForChange(job_id=JOB, timeout=30, until_terminal=True)))
    if how == "fail":
        await shards.client.call(Fail(job_id=JOB, error="boom"))
    elif how == "cancel":
        await shards.client.call(Cancel(job_id=JOB))
    else:
        await shards.client.delete([JOB])
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "changed"
    if how == "delete":
        assert job is None
    else:
        assert job is not None and job.status is (JobStatus.FAILED if how == "fail" else JobStatus.CANCELED)


async def test_a_change_of_another_job_does_not_answer(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    await shards.client.call(Create(record=record(shards.clock, OTHER)))
    task = await started(shards.client.call(WaitForChange(job_id=JOB, timeout=0.2)))
    await shards.client.call(Claim(job_id=OTHER, lease_seconds=30))
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "timeout" and job is not None and job.status is JobStatus.QUEUED


async def test_waiters_are_bounded_per_shard_and_the_extra_one_answers_busy() -> None:
    clock = FakeClock()
    service = ShardService(JobShard(MemorySql(), clock), max_waiters=2)
    service.handle("create", {"record": record(clock).to_rpc()})
    wait = {"job_id": JOB, "timeout": 30}
    first = await started(service.handle_async("waitForChange", wait))
    second = await started(service.handle_async("waitForChange", wait))
    third = await asyncio.wait_for(service.handle_async("waitForChange", wait), 5)
    assert third["ok"] and third["result"]["outcome"] == "busy"  # type: ignore[index]
    assert service.waiters.count == 2
    service.handle("cancel", {"job_id": JOB})
    for task in (first, second):
        reply = await asyncio.wait_for(task, 5)
        assert reply["result"]["outcome"] == "changed"
    assert service.waiters.count == 0


async def test_bad_payload_is_an_error_value() -> None:
    service = ShardService(JobShard(MemorySql(), FakeClock()))
    reply = await service.handle_async("waitForChange", {"job_id": JOB, "timeout": -1})
    assert reply["ok"] is False and reply["error"]["code"] == "bad_payload"  # type: ignore[index]


def test_every_operation_that_changes_a_job_wakes_its_waiters() -> None:
    changing = {
        "claim", "claimBatch", "complete", "completeBatch", "release", "fail", "cancel", "delete", "progress", "repair",
        "chunkPlan", "chunkStored",
    }
    assert {name for name, op in OPERATIONS.items() if op.changes} == changing
    assert [name for name, op in OPERATIONS.items() if op.waits] == ["waitForChange"]


async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    waiters = JobWaiters(10)
    task = asyncio.ensure_future(waiters.wait(JOB, 30))
    await asyncio.sleep(0)
    assert waiters.count == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert waiters.count == 0 and waiters.waiting_on(JOB) == 0


async def test_with_progress_wakes_on_a_chunk_without_a_status_change(shards: MemoryShards) -> None:
    await shards.client.call(Create(record=record(shards.clock)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30))
    task = await started(shards.client.call(WaitForChange(job_id=JOB, timeout=30, with_progress=True)))
    await shards.client.call(Progress(job_id=JOB, done=1, total=2, characters=3))
    job, outcome = await asyncio.wait_for(task, 5)
    assert outcome == "changed" and job is not None and job.progress_done == 1
