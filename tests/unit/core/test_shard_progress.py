"""The shard's progress RPC (long jobs) and the schema migration that added its columns."""

from __future__ import annotations

from shared.jobs.rpc import RPC_METHODS
from shared.jobs.shard import SCHEMA, Cancel, Claim, Create, JobShard, Progress, migrate_schema, schema_columns
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemoryShards, MemorySql

JOB = "e" * 32

# The jobs table as the first release created it (before sample_rate, speed, instructions, progress).
FIRST_RELEASE = """CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL, text TEXT NOT NULL,
    model TEXT NOT NULL, voice_id TEXT, format TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, started_at REAL, completed_at REAL, expires_at REAL,
    ttl_seconds INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_until REAL,
    characters INTEGER NOT NULL DEFAULT 0, error TEXT, audio_key TEXT, mime_type TEXT,
    size_bytes INTEGER, etag TEXT
)"""


def record(clock: FakeClock) -> JobRecord:
    return JobRecord(
        job_id=JOB, tenant="t", status=JobStatus.QUEUED, text="hello", model="tone", format="wav",
        created_at=clock.now, updated_at=clock.now, ttl_seconds=60, sample_rate=16000, speed=1.5, instructions="calm",
    )


def test_schema_declares_the_new_columns() -> None:
    names = [name for name, _ in schema_columns()]
    assert names[0] == "job_id" and {"sample_rate", "speed", "instructions", "progress_done", "progress_total"} <= set(names)
    assert dict(schema_columns())["progress_done"] == "INTEGER NOT NULL DEFAULT 0"


def test_an_old_table_gains_the_columns_and_keeps_its_rows() -> None:
    sql = MemorySql()
    sql.exec(FIRST_RELEASE)
    sql.exec(
        "INSERT INTO jobs (job_id, tenant, status, text, model, format, created_at, updated_at, ttl_seconds)"
        " VALUES (?, 't', 'completed', 'old', 'tone', 'wav', 1, 1, 60)",
        JOB,
    )
    clock = FakeClock()
    shard = JobShard(sql, clock)  # migrates on construction
    old = shard.get(JOB, with_text=True)
    assert old is not None and old.text == "old" and old.progress_total == 0 and old.sample_rate is None
    assert migrate_schema(sql) == []  # idempotent: nothing left to add
    declared = {name for name, _ in schema_columns()}
    present = {row["name"] for row in sql.exec("PRAGMA table_info(jobs)")}
    assert declared <= present
    assert SCHEMA[0].lstrip().startswith("CREATE TABLE IF NOT EXISTS jobs")


async def test_progress_updates_a_processing_job_and_renews_its_lease() -> None:
    clock = FakeClock()
    shards = MemoryShards(clock)
    jobs = shards.client
    await jobs.call(Create(record=record(clock)))
    claimed = await jobs.call(Claim(job_id=JOB, lease_seconds=120))
    assert (claimed.sample_rate, claimed.speed, claimed.instructions) == (16000, 1.5, "calm")
    clock.advance(100)
    after = await jobs.call(Progress(job_id=JOB, done=2, total=5, characters=321, lease_seconds=120))
    assert (after.progress_done, after.progress_total, after.characters) == (2, 5, 321)
    assert after.lease_until == clock.now + 120 and after.status is JobStatus.PROCESSING


async def test_progress_leaves_a_canceled_job_alone() -> None:
    clock = FakeClock()
    jobs = MemoryShards(clock).client
    await jobs.call(Create(record=record(clock)))
    await jobs.call(Claim(job_id=JOB, lease_seconds=120))
    await jobs.call(Cancel(job_id=JOB))
    after = await jobs.call(Progress(job_id=JOB, done=3, total=5, characters=10))
    assert after.status is JobStatus.CANCELED and after.progress_done == 0


def test_progress_is_an_rpc_method() -> None:
    assert "progress" in RPC_METHODS
