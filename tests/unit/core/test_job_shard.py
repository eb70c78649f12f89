from __future__ import annotations

import pytest

from shared.errors import IllegalTransitionError, JobNotFoundError, LeaseHeldError
from shared.jobs.shard import JobShard
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemorySql


def record(job_id: str = "a" * 32, tenant: str = "t1", created: float = 1000.0) -> JobRecord:
    return JobRecord(
        job_id=job_id, tenant=tenant, status=JobStatus.QUEUED, text="hello", model="tone",
        voice_id="default", format="wav", created_at=created, updated_at=created, ttl_seconds=600,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1000.0)


@pytest.fixture
def shard(clock: FakeClock) -> JobShard:
    return JobShard(MemorySql(), clock)


def test_create_is_idempotent_on_job_id(shard: JobShard) -> None:
    first = shard.create(record())
    again = shard.create(record().model_copy(update={"text": "other"}))
    assert again.text == first.text == "hello"


def test_get_omits_text_unless_asked(shard: JobShard) -> None:
    shard.create(record())
    assert shard.get("a" * 32).text == ""  # type: ignore[union-attr]
    assert shard.get("a" * 32, with_text=True).text == "hello"  # type: ignore[union-attr]


def test_claim_takes_a_lease_and_counts_attempts(shard: JobShard, clock: FakeClock) -> None:
    shard.create(record())
    claimed = shard.claim("a" * 32, lease_seconds=60)
    assert claimed.status is JobStatus.PROCESSING
    assert claimed.attempts == 1
    assert claimed.lease_until == clock.now + 60
    assert claimed.text == "hello"


def test_second_claim_during_live_lease_is_refused(shard: JobShard) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    with pytest.raises(LeaseHeldError):
        shard.claim("a" * 32, 60)


def test_expired_lease_can_be_reclaimed(shard: JobShard, clock: FakeClock) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    clock.advance(61)
    assert shard.claim("a" * 32, 60).attempts == 2


def test_complete_sets_expiry_and_is_idempotent(shard: JobShard, clock: FakeClock) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    done = shard.complete("a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)
    assert done.status is JobStatus.COMPLETED
    assert done.expires_at == clock.now + 600
    assert done.lease_until is None
    clock.advance(5)
    again = shard.complete("a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)
    assert again.completed_at == done.completed_at


def test_claim_of_completed_job_returns_it_unchanged(shard: JobShard) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    shard.complete("a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)
    again = shard.claim("a" * 32, 60)
    assert again.status is JobStatus.COMPLETED
    assert again.attempts == 1


def test_complete_from_queued_is_illegal(shard: JobShard) -> None:
    shard.create(record())
    with pytest.raises(IllegalTransitionError) as info:
        shard.complete("a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)
    assert info.value.current == "queued"


def test_canceled_job_cannot_complete(shard: JobShard) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    shard.cancel("a" * 32)
    with pytest.raises(IllegalTransitionError):
        shard.complete("a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)


def test_release_hands_job_back_to_queued(shard: JobShard) -> None:
    shard.create(record())
    shard.claim("a" * 32, 60)
    released = shard.release("a" * 32, "provider 503")
    assert released.status is JobStatus.QUEUED
    assert released.error == "provider 503"
    assert shard.claim("a" * 32, 60).attempts == 2


def test_fail_is_terminal(shard: JobShard) -> None:
    shard.create(record())
    failed = shard.fail("a" * 32, "bad voice")
    assert failed.status is JobStatus.FAILED
    with pytest.raises(IllegalTransitionError):
        shard.cancel("a" * 32)


def test_unknown_job_raises_not_found(shard: JobShard) -> None:
    with pytest.raises(JobNotFoundError):
        shard.claim("b" * 32, 60)


def test_list_for_tenant_pages_newest_first(shard: JobShard) -> None:
    for i in range(5):
        shard.create(record(job_id=f"{i:032x}", created=1000.0 + i))
    shard.create(record(job_id="f" * 32, tenant="other", created=2000.0))
    first = shard.list_for_tenant("t1", 2)
    assert [r.job_id[-1] for r in first] == ["4", "3"]
    rest = shard.list_for_tenant("t1", 10, (first[-1].created_at, first[-1].job_id))
    assert [r.job_id[-1] for r in rest] == ["2", "1", "0"]


def test_delete_reports_how_many_existed_across_parameter_chunks(shard: JobShard) -> None:
    ids = [f"{i:032x}" for i in range(150)]
    for job_id in ids:
        shard.create(record(job_id=job_id))
    assert shard.delete(ids + ["e" * 32]) == 150
    assert shard.lookup(ids) == []


def test_expired_and_stale_queries(shard: JobShard, clock: FakeClock) -> None:
    shard.create(record(job_id="1" * 32))
    shard.create(record(job_id="2" * 32))
    shard.claim("1" * 32, 60)
    shard.complete("1" * 32, audio_key="k", mime_type="audio/wav", size_bytes=3, etag="e", characters=5)
    clock.advance(601)
    assert [r.job_id for r in shard.expired(clock.now, 10)] == ["1" * 32]
    assert [r.job_id for r in shard.stale(JobStatus.QUEUED, clock.now - 300, 10)] == ["2" * 32]
