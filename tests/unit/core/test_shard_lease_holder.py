"""A claim's lease names its holder (the delivering queue message): takeover and heartbeat."""

from __future__ import annotations

import pytest

from shared.errors import LeaseHeldError
from shared.jobs.rpc import RPC_METHODS
from shared.jobs.shard import Claim, Create, JobShard, RenewLease
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemoryShards, MemorySql

JOB = "a" * 32


def record(clock: FakeClock) -> JobRecord:
    return JobRecord(
        job_id=JOB, tenant="t", status=JobStatus.QUEUED, text="hello", model="tone", format="wav",
        created_at=clock.now, updated_at=clock.now, ttl_seconds=600,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def shard(clock: FakeClock) -> JobShard:
    s = JobShard(MemorySql(), clock)
    s.create(record(clock))
    return s


def test_another_holder_meets_the_live_lease_and_learns_who_holds_it(shard: JobShard) -> None:
    shard.claim(JOB, 20, "m1")
    with pytest.raises(LeaseHeldError) as caught:
        shard.claim(JOB, 20, "m2")
    assert caught.value.holder == "m1" and caught.value.lease_until == 1020.0


def test_the_holders_own_redelivery_takes_the_live_lease_over(shard: JobShard, clock: FakeClock) -> None:
    shard.claim(JOB, 20, "m1")
    clock.advance(3)
    again = shard.claim(JOB, 20, "m1")
    assert again.status is JobStatus.PROCESSING and again.attempts == 2 and again.lease_until == 1023.0


def test_a_claim_without_a_holder_never_takes_a_live_lease(shard: JobShard) -> None:
    shard.claim(JOB, 20)
    with pytest.raises(LeaseHeldError) as caught:
        shard.claim(JOB, 20)
    assert caught.value.holder is None


def test_renew_lease_pushes_the_holders_lease_only(shard: JobShard, clock: FakeClock) -> None:
    shard.claim(JOB, 20, "m1")
    clock.advance(15)
    assert shard.renew_lease(JOB, "m1", 20).lease_until == 1035.0
    with pytest.raises(LeaseHeldError):
        shard.renew_lease(JOB, "m2", 20)


def test_a_lapsed_lease_goes_to_the_next_claim_and_the_old_holder_cannot_renew(
    shard: JobShard, clock: FakeClock
) -> None:
    shard.claim(JOB, 20, "m1")
    clock.advance(21)
    assert shard.claim(JOB, 20, "m2").attempts == 2
    with pytest.raises(LeaseHeldError) as caught:
        shard.renew_lease(JOB, "m1", 20)
    assert caught.value.holder == "m2"


def test_renew_lease_of_a_finished_job_returns_it_unchanged(shard: JobShard) -> None:
    shard.claim(JOB, 20, "m1")
    shard.cancel(JOB)
    assert shard.renew_lease(JOB, "m1", 20).status is JobStatus.CANCELED
    # a release or a terminal state drops the holder: a fresh claim by anyone is a new lease
    assert shard._load(JOB)[1] is None


async def test_renew_lease_crosses_the_rpc_boundary_with_its_error(clock: FakeClock) -> None:
    assert "renewLease" in RPC_METHODS
    shards = MemoryShards(clock)
    await shards.client.call(Create(record=record(clock)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=20, holder="m1"))
    assert (await shards.client.call(
        RenewLease(job_id=JOB, holder="m1", lease_seconds=30)
    )).lease_until == clock.now + 30
    with pytest.raises(LeaseHeldError) as caught:
        await shards.client.call(Claim(job_id=JOB, lease_seconds=20, holder="m2"))
    assert caught.value.holder == "m1"
