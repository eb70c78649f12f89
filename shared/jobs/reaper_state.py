"""The reaper's lease and saved state, kept in a shard's SQLite (``reaper_state``).

A reaper run takes a lease by name before it deletes anything, so two runs
at once (a cron firing twice, a manual ``/__scheduled`` during a cron run)
never do the same work twice; the second finds the lease held and leaves.
The row also carries small JSON state between runs (the orphan sweep's
cursor). Safety never depends on the lease: every reaper decision is
re-checked against the job's row when it is made; the lease only stops
duplicate work.

Taking or renewing a lease is one transaction, so it is a compare-and-set:
of two runs asking at once, exactly one wins.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from shared.jobs.rpc_payloads import Operation, ReturnsDict, ReturnsFlag
from shared.ports import SqlPort

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS reaper_state (
        name TEXT PRIMARY KEY,
        holder TEXT,
        lease_until REAL NOT NULL DEFAULT 0,
        state TEXT NOT NULL DEFAULT '{}'
    )""",
)
MAX_STATE_BYTES = 4096


class ReaperStateStore:
    """Leases and saved state by name, in one Durable Object's SQL storage."""

    def __init__(self, sql: SqlPort) -> None:
        self._sql = sql
        for statement in SCHEMA:
            self._sql.exec(statement)

    def _row(self, name: str) -> dict[str, Any] | None:
        rows = self._sql.exec("SELECT holder, lease_until, state FROM reaper_state WHERE name = ?", name)
        return rows[0] if rows else None

    @staticmethod
    def _view(row: dict[str, Any] | None, acquired: bool) -> dict[str, Any]:
        if row is None:
            return {"acquired": acquired, "holder": None, "leaseUntil": 0.0, "state": {}}
        return {
            "acquired": acquired,
            "holder": row["holder"],
            "leaseUntil": float(row["lease_until"]),
            "state": json.loads(row["state"] or "{}"),
        }

    def lease(self, name: str, holder: str, now: float, until: float, *, peek: bool = False) -> dict[str, Any]:
        """Take (or renew) the lease ``name`` for ``holder`` until ``until``.

        Granted when nobody holds it, the holder's lease ran out by ``now``,
        or ``holder`` already holds it. Returns ``{acquired, holder,
        leaseUntil, state}``; ``peek`` only reads (a dry run takes no lease).
        """

        def tx() -> dict[str, Any]:
            row = self._row(name)
            if peek:
                return self._view(row, False)
            free = row is None or float(row["lease_until"]) <= now or row["holder"] == holder
            if not free:
                return self._view(row, False)
            if row is None:
                self._sql.exec(
                    "INSERT INTO reaper_state (name, holder, lease_until) VALUES (?, ?, ?)", name, holder, until
                )
            else:
                self._sql.exec(
                    "UPDATE reaper_state SET holder = ?, lease_until = ? WHERE name = ?", holder, until, name
                )
            return self._view(self._row(name), True)

        return self._sql.transaction(tx)

    def save(self, name: str, holder: str, until: float, state: dict[str, Any] | None) -> bool:
        """Renew (or, with ``until`` 0, release) ``holder``'s lease and store ``state``.

        Refused (False) when another run has taken the lease since: the
        caller has lost it and must stop.
        """
        text = None if state is None else json.dumps(state, separators=(",", ":"), sort_keys=True)
        if text is not None and len(text.encode()) > MAX_STATE_BYTES:
            raise ValueError(f"reaper state is over {MAX_STATE_BYTES} bytes")

        def tx() -> bool:
            row = self._row(name)
            if row is None or row["holder"] != holder:
                return False
            if text is None:
                self._sql.exec("UPDATE reaper_state SET lease_until = ? WHERE name = ?", until, name)
            else:
                self._sql.exec(
                    "UPDATE reaper_state SET lease_until = ?, state = ? WHERE name = ?", until, text, name
                )
            return True

        return self._sql.transaction(tx)


# --- RPC operations (shared/jobs/rpc_payloads.py): one per method; the caller names the shard ---

LEASE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"


class ReaperLease(ReturnsDict, Operation):
    runs = "reaper_state.lease"
    name: str = Field(pattern=LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    now: float
    until: float
    peek: bool = False


class ReaperSave(ReturnsFlag, Operation):
    runs = "reaper_state.save"
    name: str = Field(pattern=LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    until: float
    state: dict[str, str | int | float | bool | None] | None = None
