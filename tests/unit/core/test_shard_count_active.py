"""count_active runs on every submit: it must read the tenant's active jobs only, not its history."""

from __future__ import annotations

from pathlib import Path

from local_runtime.bindings.sql import SqliteSql
from shared.jobs.shard import JobShard
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock

COUNT_ACTIVE = "SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND status IN ('queued', 'processing')"


def test_count_active_reads_only_active_jobs_through_the_partial_index(tmp_path: Path) -> None:
    # GIVEN a tenant with a long history of finished jobs and two live ones
    clock = FakeClock()
    sql = SqliteSql(tmp_path / "shard.sqlite")
    shard = JobShard(sql, clock)
    for n in range(50):
        now = clock()
        shard.create(JobRecord(job_id=f"{n:032x}", tenant="t", status=JobStatus.QUEUED, text="x", model="tone",
                               format="wav", created_at=now, updated_at=now, ttl_seconds=60))
        if n >= 2:
            shard.cancel(f"{n:032x}")

    # WHEN the submit path counts them THEN the count is right and the plan is the partial index
    assert shard.count_active("t") == 2
    plan = " ".join(row["detail"] for row in sql.exec("EXPLAIN QUERY PLAN " + COUNT_ACTIVE, "t"))
    assert "jobs_tenant_active" in plan
