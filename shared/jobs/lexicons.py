"""A tenant's pronunciation lexicons, kept in a Durable Object's SQLite (``lexicons`` table).

Where: one Durable Object per tenant, named ``lexicon_object_name(tenant)``
(``lexicons-`` and a hash of the tenant), of the same class as the job
shards. A lexicon is at most ``MAX_LEXICON_BYTES`` (64 KiB) of source plus
its rules as canonical JSON, so a version is one row, far under the 2 MB a
row may hold: no R2 object, no second read. One object per tenant keeps
each tenant's lexicons in one place, isolated from the others, outside the
job shards (their count may change; these names do not), and its writes
are transactions: putting a lexicon and superseding the old version is one
step. Deleting a tenant's data is deleting its object's storage.

Versions: a version is the SHA-256 of the lexicon's canonical rules
(``shared.text.lexicon``). A job records the versions it was submitted with
and its synthesis reads exactly those, so a lexicon replaced or deleted
meanwhile keeps its old version until no job can need it: a superseded
version is kept ``keep_seconds`` (``REAPER_GIVE_UP_SECONDS``: a job not
finished by then is failed by the reaper) and purged by the next write of
the tenant's lexicons. At most ``MAX_KEPT_VERSIONS`` superseded versions
of one name are kept; a put beyond that is refused until the oldest lapses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import Field

from shared.errors import LexiconLimitError
from shared.jobs.rpc_payloads import Operation, ReturnsDict, ReturnsFlag, ReturnsList, ReturnsMaybeDict
from shared.ports import SqlPort

__all__ = [
    "MAX_KEPT_VERSIONS",
    "LexiconLimitError",
    "LexiconStore",
    "lexicon_object_name",
]

MAX_KEPT_VERSIONS = 50
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lexicons (
        tenant TEXT NOT NULL,
        name TEXT NOT NULL,
        version TEXT NOT NULL,
        format TEXT NOT NULL,
        source TEXT NOT NULL,
        rules TEXT NOT NULL,
        rule_count INTEGER NOT NULL,
        size_bytes INTEGER NOT NULL,
        language TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        superseded_at REAL,
        PRIMARY KEY (tenant, name, version)
    )""",
    "CREATE INDEX IF NOT EXISTS lexicons_current ON lexicons (tenant, name) WHERE superseded_at IS NULL",
    "CREATE INDEX IF NOT EXISTS lexicons_superseded ON lexicons (tenant, superseded_at) WHERE superseded_at IS NOT NULL",
)
_VIEW = "name, version, format, rule_count, size_bytes, language, created_at, updated_at"


def lexicon_object_name(tenant: str) -> str:
    """The Durable Object that holds ``tenant``'s lexicons."""
    return "lexicons-" + hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]


def _view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": row["name"],
        "version": row["version"],
        "format": row["format"],
        "ruleCount": int(row["rule_count"]),
        "sizeBytes": int(row["size_bytes"]),
        "language": row["language"],
        "createdAt": float(row["created_at"]),
        "updatedAt": float(row["updated_at"]),
    }


class LexiconStore:
    """Lexicons by (tenant, name, version) in one Durable Object's SQL storage; the table is made on first use."""

    def __init__(self, sql: SqlPort) -> None:
        self._sql = sql
        self._ready = False

    def _schema(self) -> None:
        if not self._ready:
            for statement in SCHEMA:
                self._sql.exec(statement)
            self._ready = True

    def _current(self, tenant: str, name: str, columns: str = "*") -> dict[str, Any] | None:
        rows = self._sql.exec(
            f"SELECT {columns} FROM lexicons WHERE tenant = ? AND name = ? AND superseded_at IS NULL", tenant, name
        )
        return rows[0] if rows else None

    def put(
        self,
        tenant: str,
        name: str,
        *,
        version: str,
        format: str,  # noqa: A002 - the stored column's name
        source: str,
        rules: str,
        rule_count: int,
        size_bytes: int,
        language: str | None,
        now: float,
        max_lexicons: int,
        keep_seconds: float,
    ) -> dict[str, Any]:
        """Make ``version`` the current one of ``name``: ``{"lexicon": view, "created": bool}``."""
        self._schema()

        def tx() -> dict[str, Any]:
            self._purge(tenant, now - keep_seconds)
            current = self._current(tenant, name, "version")
            if current is None:
                count = self._sql.exec(
                    "SELECT COUNT(*) AS n FROM lexicons WHERE tenant = ? AND superseded_at IS NULL", tenant
                )[0]["n"]
                if int(count) >= max_lexicons:
                    raise LexiconLimitError(
                        "too_many_lexicons",
                        f"the tenant has {count} lexicons, the most MAX_LEXICONS ({max_lexicons}) allows;"
                        " delete one first",
                    )
            elif current["version"] != version:
                kept = self._sql.exec(
                    "SELECT COUNT(*) AS n, MIN(superseded_at) AS oldest FROM lexicons"
                    " WHERE tenant = ? AND name = ? AND superseded_at IS NOT NULL",
                    tenant,
                    name,
                )[0]
                if int(kept["n"]) >= MAX_KEPT_VERSIONS:
                    wait = float(kept["oldest"]) + keep_seconds - now
                    raise LexiconLimitError(
                        "too_many_versions",
                        f"lexicon {name!r} was replaced {kept['n']} times in the last {keep_seconds:.0f} s, and"
                        " each replaced version is kept for the jobs that use it; try again later",
                        retry_after=max(1.0, wait),
                    )
                self._sql.exec(
                    "UPDATE lexicons SET superseded_at = ? WHERE tenant = ? AND name = ? AND superseded_at IS NULL",
                    now,
                    tenant,
                    name,
                )
            existing = self._sql.exec(
                "SELECT created_at FROM lexicons WHERE tenant = ? AND name = ? AND version = ?", tenant, name, version
            )
            if existing:
                self._sql.exec(
                    "UPDATE lexicons SET format = ?, source = ?, size_bytes = ?, updated_at = ?, superseded_at = NULL"
                    " WHERE tenant = ? AND name = ? AND version = ?",
                    format,
                    source,
                    size_bytes,
                    now,
                    tenant,
                    name,
                    version,
                )
            else:
                self._sql.exec(
                    "INSERT INTO lexicons (tenant, name, version, format, source, rules, rule_count, size_bytes,"
                    " language, created_at, updated_at, superseded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                    tenant,
                    name,
                    version,
                    format,
                    source,
                    rules,
                    rule_count,
                    size_bytes,
                    language,
                    now,
                    now,
                )
            row = self._current(tenant, name, _VIEW)
            assert row is not None
            return {"lexicon": _view(row), "created": current is None}

        return self._sql.transaction(tx)

    def get(self, tenant: str, name: str) -> dict[str, Any] | None:
        """The current version of ``name``: its view plus ``source`` and ``rules``; None if there is none."""
        self._schema()
        row = self._current(tenant, name, f"{_VIEW}, source, rules")
        if row is None:
            return None
        return {**_view(row), "source": row["source"], "rules": row["rules"]}

    def list(self, tenant: str) -> list[dict[str, Any]]:
        self._schema()
        rows = self._sql.exec(
            f"SELECT {_VIEW} FROM lexicons WHERE tenant = ? AND superseded_at IS NULL ORDER BY name", tenant
        )
        return [_view(r) for r in rows]

    def delete(self, tenant: str, name: str, now: float, keep_seconds: float) -> bool:
        """Retire ``name`` (its versions stay for the jobs that use them, ``keep_seconds``); False if unknown."""
        self._schema()

        def tx() -> bool:
            self._purge(tenant, now - keep_seconds)
            if self._current(tenant, name, "version") is None:
                return False
            self._sql.exec(
                "UPDATE lexicons SET superseded_at = ? WHERE tenant = ? AND name = ? AND superseded_at IS NULL",
                now,
                tenant,
                name,
            )
            return True

        return self._sql.transaction(tx)

    def resolve(self, tenant: str, names: Sequence[str]) -> dict[str, Any]:
        """The current version and rules of each of ``names``: ``{"found": [{name, version, rules}], "missing": [...]}``."""
        self._schema()
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for name in names:
            row = self._current(tenant, name, "name, version, rules")
            if row is None:
                missing.append(name)
            else:
                found.append({"name": row["name"], "version": row["version"], "rules": row["rules"]})
        return {"found": found, "missing": missing}

    def versions(self, tenant: str, refs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The rules of each ``(name, version)``, current or superseded: ``{"found": [...], "missing": [...]}``."""
        self._schema()
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for name, version in refs:
            rows = self._sql.exec(
                "SELECT rules FROM lexicons WHERE tenant = ? AND name = ? AND version = ?", tenant, name, version
            )
            if rows:
                found.append({"name": name, "version": version, "rules": rows[0]["rules"]})
            else:
                missing.append(f"{name}@{version}")
        return {"found": found, "missing": missing}

    def _purge(self, tenant: str, before: float) -> None:
        self._sql.exec(
            "DELETE FROM lexicons WHERE tenant = ? AND superseded_at IS NOT NULL AND superseded_at < ?", tenant, before
        )


# --- RPC operations (shared/jobs/rpc_payloads.py): one per method, in the tenant's own object ---

_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _TenantOperation(Operation):
    tenant: str

    def destination(self, shard_of: Callable[[str], str]) -> str | None:
        return lexicon_object_name(self.tenant)


class LexiconPut(ReturnsDict, _TenantOperation):
    runs = "lexicons.put"
    name: str = Field(pattern=_NAME)
    version: str = Field(pattern=r"^[0-9a-f]{16}$")
    format: str = Field(pattern=r"^(pls|json)$")
    source: str
    rules: str
    rule_count: int = Field(ge=1)
    size_bytes: int = Field(ge=0)
    language: str | None = None
    now: float
    max_lexicons: int = Field(ge=0)
    keep_seconds: float = Field(ge=0)


class LexiconGet(ReturnsMaybeDict, _TenantOperation):
    runs = "lexicons.get"
    name: str = Field(pattern=_NAME)


class LexiconDelete(ReturnsFlag, _TenantOperation):
    runs = "lexicons.delete"
    name: str = Field(pattern=_NAME)
    now: float
    keep_seconds: float = Field(ge=0)


class LexiconList(ReturnsList, _TenantOperation):
    runs = "lexicons.list"


class LexiconResolve(ReturnsDict, _TenantOperation):
    runs = "lexicons.resolve"
    names: list[str] = Field(max_length=100)


class LexiconVersions(ReturnsDict, _TenantOperation):
    runs = "lexicons.versions"
    refs: list[tuple[str, str]] = Field(max_length=100)
