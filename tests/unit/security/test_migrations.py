from __future__ import annotations

from shared.jobs.migrations import add_missing_columns
from shared.jobs.shard import JobShard, schema_columns
from shared.models import JobStatus
from tests.fakes import FakeClock, MemorySql

# The jobs table as the first release created it.
FIRST_RELEASE = """CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, status TEXT NOT NULL, text TEXT NOT NULL,
    model TEXT NOT NULL, voice_id TEXT, format TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, started_at REAL, completed_at REAL, expires_at REAL,
    ttl_seconds INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, lease_until REAL,
    characters INTEGER NOT NULL DEFAULT 0, error TEXT, audio_key TEXT, mime_type TEXT,
    size_bytes INTEGER, etag TEXT)"""


def columns(sql: MemorySql) -> set[str]:
    return {r["name"] for r in sql.exec("PRAGMA table_info(jobs)")}


def test_an_old_shard_gains_the_new_columns_and_keeps_its_rows() -> None:
    sql = MemorySql()
    sql.exec(FIRST_RELEASE)
    sql.exec(
        "INSERT INTO jobs (job_id, tenant, status, text, model, format, created_at, updated_at, ttl_seconds)"
        " VALUES (?, 't', 'queued', 'old text', 'tone', 'wav', 1, 1, 60)",
        "a" * 32,
    )
    shard = JobShard(sql, FakeClock())
    assert {name for name, _ in schema_columns()} <= columns(sql)
    indexes = {r["name"] for r in sql.exec("PRAGMA index_list(jobs)")}
    assert "jobs_idempotency" in indexes  # created after the columns it covers
    old = shard.get("a" * 32, with_text=True)
    assert old is not None and old.text == "old text" and old.status is JobStatus.QUEUED
    assert old.webhook_attempts == 0 and old.idempotency_key is None
    before = columns(sql)
    JobShard(sql, FakeClock())  # a second construction: nothing to do
    assert columns(sql) == before


def test_add_missing_columns_reports_only_what_it_added() -> None:
    sql = MemorySql()
    sql.exec("CREATE TABLE t (a TEXT)")
    assert add_missing_columns(sql, "t", [("a", "TEXT"), ("b", "INTEGER NOT NULL DEFAULT 0")]) == ["b"]
    assert add_missing_columns(sql, "t", [("a", "TEXT"), ("b", "INTEGER NOT NULL DEFAULT 0")]) == []
