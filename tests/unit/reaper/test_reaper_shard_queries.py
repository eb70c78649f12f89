"""The shard's reaper queries on the local SQLite port (Cloudflare's limits enforced)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_runtime.bindings.sql import SqliteSql
from shared.jobs.shard import JobShard
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock


@pytest.fixture
def sql(tmp_path: Path) -> SqliteSql:
    return SqliteSql(tmp_path / "shard.sqlite")


@pytest.fixture
def shard(sql: SqliteSql, clock: FakeClock) -> JobShard:
    return JobShard(sql, clock)


def new(shard: JobShard, clock: FakeClock, n: int) -> JobRecord:
    now = clock()
    return shard.create(
        JobRecord(job_id=f"{n:032x}", tenant="t", status=JobStatus.QUEUED, text="x", model="tone", format="wav",
                  created_at=now, updated_at=now, ttl_seconds=60)
    )


def test_expired_pages_by_keyset_even_when_many_rows_share_an_expiry(shard: JobShard, clock: FakeClock) -> None:
    for n in range(25):
        new(shard, clock, n)
        shard.fail(f"{n:032x}", "boom")  # same clock: every row expires at the same instant
    clock.advance(61)
    seen: list[str] = []
    after = None
    while True:
        page = shard.expired(clock(), 10, after)
        if not page:
            break
        seen += [r.job_id for r in page]
        after = (page[-1].expires_at or 0.0, page[-1].job_id)
    assert seen == sorted(f"{n:032x}" for n in range(25))


def test_stale_pages_by_keyset(shard: JobShard, clock: FakeClock) -> None:
    for n in range(12):
        new(shard, clock, n)
    clock.advance(1000)
    first = shard.stale(JobStatus.QUEUED, clock() - 900, 5)
    second = shard.stale(JobStatus.QUEUED, clock() - 900, 5, (first[-1].updated_at, first[-1].job_id))
    third = shard.stale(JobStatus.QUEUED, clock() - 900, 5, (second[-1].updated_at, second[-1].job_id))
    assert len({r.job_id for r in first + second + third}) == 12 and len(third) == 2


def test_reaper_queries_use_their_indexes(sql: SqliteSql, shard: JobShard) -> None:
    plans = {
        "expired": sql.exec(
            "EXPLAIN QUERY PLAN SELECT job_id FROM jobs WHERE expires_at IS NOT NULL AND expires_at >= ?"
            " AND expires_at <= ? AND (expires_at > ? OR job_id > ?) ORDER BY expires_at, job_id LIMIT ?",
            0, 1, 0, "", 10,
        ),
        "stale": sql.exec(
            "EXPLAIN QUERY PLAN SELECT job_id FROM jobs WHERE status = ? AND updated_at >= ? AND updated_at < ?"
            " AND (updated_at > ? OR job_id > ?) ORDER BY updated_at, job_id LIMIT ?",
            "queued", 0, 1, 0, "", 10,
        ),
    }
    expired = " ".join(row["detail"] for row in plans["expired"])
    stale = " ".join(row["detail"] for row in plans["stale"])
    assert "jobs_expires_id" in expired and "jobs_status_updated_id" in stale
    assert "TEMP B-TREE" not in expired + stale  # no page sorts rows


def test_repair_is_a_compare_and_set_on_updated_at(shard: JobShard, clock: FakeClock) -> None:
    job = new(shard, clock, 1)
    clock.advance(1000)
    assert shard.repair(job.job_id, job.updated_at + 1, "resend") is None  # read a different version
    touched = shard.repair(job.job_id, job.updated_at, "resend")
    assert touched is not None and touched.updated_at == clock() and touched.status is JobStatus.QUEUED
    assert shard.repair(job.job_id, job.updated_at, "resend") is None  # a second run loses


def test_requeue_only_a_processing_job_whose_lease_ran_out(shard: JobShard, clock: FakeClock) -> None:
    job = new(shard, clock, 2)
    claimed = shard.claim(job.job_id, 120)
    assert shard.repair(job.job_id, claimed.updated_at, "requeue") is None  # lease still live
    clock.advance(121)
    requeued = shard.repair(job.job_id, claimed.updated_at, "requeue", "lease ran out")
    assert requeued is not None and requeued.status is JobStatus.QUEUED and requeued.lease_until is None


def test_fail_sets_the_expiry_and_never_touches_a_finished_job(shard: JobShard, clock: FakeClock) -> None:
    job = new(shard, clock, 3)
    failed = shard.repair(job.job_id, job.updated_at, "fail", "stuck")
    assert failed is not None and failed.status is JobStatus.FAILED and failed.expires_at == clock() + 60
    assert shard.repair(job.job_id, failed.updated_at, "fail") is None
