"""The ``jobs`` table, declared once: ``JobRecord``'s fields plus the shard-only columns.

Each column's SQL declaration is derived from its pydantic field (type,
optional or not, default), so a field added to ``JobRecord`` is a column of
new shards and is added to existing ones by ``migrate_schema`` on their next
construction. A field added there must be one SQLite can add to a table with
rows: optional, or with a constant default.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, get_args

from pydantic.fields import FieldInfo

from shared.jobs.migrations import add_missing_columns
from shared.models import JobRecord
from shared.ports import SqlPort

PRIMARY_KEY = "job_id"
# Columns a record is never built from: who holds a claim's lease stays inside the shard, and so
# does the outbox state of the job's synthesis message (shared/jobs/outbox.py): when the shard's
# alarm sends it again if the job is still queued (NULL: nothing to send), and how often it did.
# Neither is indexed: an index entry written is billed as one more row written.
SEND_DUE_AT = "send_due_at"
SEND_ATTEMPTS = "send_attempts"
SHARD_ONLY_COLUMNS = (("lease_holder", "TEXT"), (SEND_DUE_AT, "REAL"), (SEND_ATTEMPTS, "INTEGER NOT NULL DEFAULT 0"))
_SQL_TYPES: dict[type, str] = {str: "TEXT", int: "INTEGER", float: "REAL", bool: "INTEGER"}


def _sql_type(annotation: Any) -> tuple[str, bool]:
    """(SQL type, nullable) of a field annotation such as ``int``, ``str | None`` or ``JobStatus``."""
    args = get_args(annotation)
    nullable = type(None) in args
    base = next((a for a in args if a is not type(None)), annotation) if args else annotation
    if isinstance(base, type) and issubclass(base, Enum):
        base = str
    if base not in _SQL_TYPES:
        raise TypeError(f"no SQL type for {annotation!r}")
    return _SQL_TYPES[base], nullable


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def column_declaration(name: str, field: FieldInfo) -> str:
    sql_type, nullable = _sql_type(field.annotation)
    if name == PRIMARY_KEY:
        return f"{sql_type} PRIMARY KEY"
    if nullable:
        return sql_type
    if field.is_required():
        return f"{sql_type} NOT NULL"
    return f"{sql_type} NOT NULL DEFAULT {_literal(field.default)}"


def schema_columns() -> list[tuple[str, str]]:
    """(name, declaration) of every column of the ``jobs`` table, ``job_id`` first."""
    record = [(name, column_declaration(name, field)) for name, field in JobRecord.model_fields.items()]
    return [*record, *SHARD_ONLY_COLUMNS]


def _create_table() -> str:
    body = ",\n        ".join(f"{name} {declaration}" for name, declaration in schema_columns())
    return f"CREATE TABLE IF NOT EXISTS jobs (\n        {body}\n    )"


SCHEMA = (
    _create_table(),
    # Indexes run after migrate_schema, so they may cover columns it adds.
    "CREATE INDEX IF NOT EXISTS jobs_tenant_created ON jobs (tenant, created_at DESC, job_id DESC)",
    # The reaper pages through these in (time, job_id) order; with job_id in the
    # index no page sorts, even when thousands of jobs share one timestamp.
    "CREATE INDEX IF NOT EXISTS jobs_expires_id ON jobs (expires_at, job_id) WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS jobs_status_updated_id ON jobs (status, updated_at, job_id)",
    "DROP INDEX IF EXISTS jobs_expires",  # superseded by the two above
    "DROP INDEX IF EXISTS jobs_status_updated",
    # count_active runs on every submit: without it SQLite walks every job the tenant has
    # (jobs_tenant_created), and Cloudflare bills each row scanned as a row read.
    "CREATE INDEX IF NOT EXISTS jobs_tenant_active ON jobs (tenant) WHERE status IN ('queued', 'processing')",
    "CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency ON jobs (tenant, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL",
)

# Every column a record is built from.
COLUMNS = tuple(JobRecord.model_fields)


def create_schema(sql: SqlPort) -> None:
    """Create or bring up to date the ``jobs`` table and its indexes (idempotent)."""
    sql.exec(SCHEMA[0])
    migrate_schema(sql)
    for statement in SCHEMA[1:]:
        sql.exec(statement)


def migrate_schema(sql: SqlPort) -> list[str]:
    """Add to an existing ``jobs`` table the columns it lacks; returns their names.

    A shard's SQLite outlives deploys: CREATE TABLE IF NOT EXISTS leaves an
    older table as it was. One PRAGMA when nothing is missing.
    """
    addable = [(n, d) for n, d in schema_columns() if n != PRIMARY_KEY]
    return add_missing_columns(sql, "jobs", addable)
