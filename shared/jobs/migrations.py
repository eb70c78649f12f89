"""Idempotent schema migrations for Durable Object SQLite: add missing columns.

A shard's database outlives deploys, so a column added to ``JobRecord`` must
be added to existing tables too. ``add_missing_columns`` reads
``PRAGMA table_info`` and issues ``ALTER TABLE ... ADD COLUMN`` for each
column not there yet: running it on every construction is safe and cheap
(one PRAGMA when nothing is missing). Declarations must be ones SQLite can
add to a table with rows: nullable, or ``NOT NULL`` with a constant default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from shared.ports import SqlPort

_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def add_missing_columns(sql: SqlPort, table: str, columns: Sequence[tuple[str, str]]) -> list[str]:
    """Add each ``(name, declaration)`` the table lacks; returns the names added."""
    if not _NAME.match(table) or not all(_NAME.match(name) for name, _ in columns):
        raise ValueError("table and column names must be plain identifiers")
    existing = {row["name"] for row in sql.exec(f"PRAGMA table_info({table})")}
    added: list[str] = []
    for name, declaration in columns:
        if name not in existing:
            sql.exec(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
            added.append(name)
    return added
