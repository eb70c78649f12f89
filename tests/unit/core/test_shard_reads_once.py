"""Each transition reads the job's row once (shared/jobs/shard.py ``_load``), and what it
returns is what a fresh read gives."""

from __future__ import annotations

from typing import Any

from shared.jobs.shard import JobShard
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemorySql

JOB = "0" * 31 + "1"


class CountingSql(MemorySql):
    def __init__(self) -> None:
        super().__init__()
        self.selects = 0

    def exec(self, query: str, *params: Any) -> list[dict[str, Any]]:
        if query.lstrip().upper().startswith("SELECT") and "FROM jobs" in query:
            self.selects += 1
        return super().exec(query, *params)


def test_claim_complete_and_settling_read_the_row_once_and_return_it_as_stored() -> None:
    sql = CountingSql()
    clock = FakeClock()
    shard = JobShard(sql, clock)
    shard.create(JobRecord(job_id=JOB, tenant="t", status=JobStatus.QUEUED, text="hello", model="tone",
                           format="wav", created_at=clock(), updated_at=clock(), ttl_seconds=60))
    steps = [
        lambda: shard.claim(JOB, 30, "m1"),
        lambda: shard.renew_lease(JOB, "m1", 30),
        lambda: shard.progress(JOB, done=1, total=2, characters=5),
        lambda: shard.complete(JOB, audio_key="a/k.wav", mime_type="audio/wav", size_bytes=10, etag="e",
                               characters=5),
        lambda: shard.mark_webhook(JOB),
        lambda: shard.record_webhook(JOB, status="delivered", attempts=1, last_status=200, last_error=None),
    ]
    for step in steps:
        clock.advance(1)
        sql.selects = 0
        returned = step()
        assert sql.selects == 1
        stored = shard.get(JOB, with_text=returned.text is not None and returned.text != "")
        assert returned.model_dump(exclude={"text"}) == stored.model_dump(exclude={"text"})
    claimed = shard.get(JOB, with_text=True)
    assert claimed is not None and claimed.text == "hello"
