"""The chunk ledger of a shard: which chunks of a fanned-out job are done, and who works on which.

A long job's chunks go out as queue messages of their own (shared/consumer.py,
"Chunk tasks"). The ledger, one row per chunk in ``job_chunks`` beside the
job's row, keeps them from being paid for twice and tells who finishes last:

- ``plan`` (by the delivery holding the job's claim) writes the rows of a
  chunk plan, marks the chunks already stored in R2 as done, and hands the
  job's lease to the plan (holder ``fanout:<plan>``), renewed by every chunk
  claimed or stored, so the reaper leaves a job alone while its chunks move;
- ``claim`` gives one chunk to one delivery under a short lease (a second
  delivery meets ``held``; a chunk already stored is ``done``; a job no
  longer processing, or a task of an older plan, is ``stopped``);
- ``stored`` marks a chunk done and counts it into the job's progress and
  characters; the call that stores the last chunk releases the job's lease
  so the assembly message that follows claims it at once;
- ``release`` hands a chunk back after a failure (counted when reported).

A job with inputs also counts its inputs done (``progress_inputs``): an input
is done when every chunk of it is stored; its chunks' range comes from the
record's ``input_chunks`` (the chunk count at the end of each input, fixed at
submit), and is used only while it agrees with the plan's total.

A claim that takes over a chunk whose holder never stored nor released it
counts a lapse (that delivery died). Rows go when the job is final
(``JobShard._settle``) or deleted. Rows written per chunk: 3 (planned,
claimed, stored), each in the transaction that also updates the job.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from pydantic import Field

from shared.errors import LeaseHeldError
from shared.jobs.rpc_payloads import JobOperation, ReturnsDict, ReturnsMaybeDict
from shared.models import JobRecord, JobStatus
from shared.ports import Clock, SqlPort


class JobRows(Protocol):
    """What the ledger uses of its ``JobShard``: the job row, read and written in the same transaction."""

    _sql: SqlPort
    _clock: Clock

    def _load(self, job_id: str, *, with_text: bool = False) -> tuple[JobRecord, str | None]: ...

    def _update(self, record: JobRecord, **changes: Any) -> JobRecord: ...

    def _write(self, job_id: str, changes: dict[str, Any]) -> None: ...


def input_ends(record: JobRecord, total: int) -> list[int]:
    """A multi-input job's chunk count at the end of each input; [] for others, or when it disagrees with
    ``total`` (the chunks were planned otherwise than at submit: inputs are then not counted)."""
    if not record.input_chunks:
        return []
    ends = [int(x) for x in record.input_chunks.split(",")]
    return ends if ends and ends[-1] == total else []


def inputs_done_in_order(record: JobRecord, done: int, total: int) -> int:
    """Inputs done when the first ``done`` chunks are (a job synthesized chunk by chunk, in order)."""
    return bisect.bisect_right(input_ends(record, total), done)


FANOUT_HOLDER_PREFIX = "fanout:"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS job_chunks (
        job_id TEXT NOT NULL,
        idx INTEGER NOT NULL,
        plan TEXT NOT NULL,
        holder TEXT,
        lease_until REAL,
        done INTEGER NOT NULL DEFAULT 0,
        characters INTEGER NOT NULL DEFAULT 0,
        claims INTEGER NOT NULL DEFAULT 0,
        lapses INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        PRIMARY KEY (job_id, idx)
    )""",
)


def fanout_holder(plan: str) -> str:
    return FANOUT_HOLDER_PREFIX + plan


def is_fanout_holder(holder: str | None) -> bool:
    return holder is not None and holder.startswith(FANOUT_HOLDER_PREFIX)


class ChunkLedger:
    """The ``job_chunks`` rows of one shard; each method one transaction with the job's row."""

    def __init__(self, shard: JobRows) -> None:
        self._shard = shard
        self._sql = shard._sql
        for statement in SCHEMA:
            self._sql.exec(statement)

    def _now(self) -> float:
        return self._shard._clock()

    def _rows(self, job_id: str) -> dict[int, dict[str, Any]]:
        return {int(r["idx"]): dict(r) for r in self._sql.exec("SELECT * FROM job_chunks WHERE job_id = ?", job_id)}

    def _done_count(self, job_id: str) -> int:
        return int(self._sql.exec("SELECT COUNT(*) AS n FROM job_chunks WHERE job_id = ? AND done = 1", job_id)[0]["n"])

    def plan(
        self, job_id: str, plan: str, total: int, holder: str, stored: Sequence[int], lease_seconds: float
    ) -> dict[str, Any]:
        """Write the plan's rows; returns ``{"record", "pending"}`` (indexes not yet stored)."""
        shard = self._shard

        def tx() -> dict[str, Any]:
            record, current = shard._load(job_id)
            if record.status is not JobStatus.PROCESSING:
                return {"record": record.to_rpc(), "pending": []}
            if current != holder:
                raise LeaseHeldError(job_id, record.lease_until or 0, current)
            self._sql.exec("DELETE FROM job_chunks WHERE job_id = ? AND plan != ?", job_id, plan)
            rows = self._rows(job_id)
            for index in range(total):
                if index not in rows:
                    self._sql.exec("INSERT INTO job_chunks (job_id, idx, plan) VALUES (?, ?, ?)", job_id, index, plan)
            for index in set(stored) - {i for i, r in rows.items() if r["done"]}:
                if 0 <= index < total:
                    self._sql.exec(
                        "UPDATE job_chunks SET done = 1, holder = NULL WHERE job_id = ? AND idx = ?", job_id, index
                    )
            done_rows = {int(r["idx"]) for r in self._sql.exec(
                "SELECT idx FROM job_chunks WHERE job_id = ? AND done = 1", job_id)}
            pending = [i for i in range(total) if i not in done_rows]
            changes: dict[str, Any] = {"progress_done": len(done_rows), "progress_total": total}
            ends = input_ends(record, total)
            if ends:
                changes["progress_inputs"] = sum(
                    all(i in done_rows for i in range(start, end)) for start, end in zip([0, *ends], ends)
                )
            if pending:
                changes["lease_holder"] = fanout_holder(plan)
                changes["lease_until"] = self._now() + lease_seconds
            updated = shard._update(record, **changes)
            return {"record": updated.to_rpc(), "pending": pending}

        return self._sql.transaction(tx)

    def claim(
        self, job_id: str, plan: str, index: int, holder: str, lease_seconds: float, job_lease_seconds: float,
        *, renew: bool = False,
    ) -> dict[str, Any]:
        """Give chunk ``index`` to ``holder``: ``{"state": claimed|done|held|stopped|lost, "leaseUntil"}``.

        ``renew`` is the heartbeat of a holder at work: it only extends its own
        claim (``lost`` when another delivery has taken the chunk).
        """
        shard = self._shard

        def tx() -> dict[str, Any]:
            record, current = shard._load(job_id)
            row = self._rows_one(job_id, index)
            if record.status is not JobStatus.PROCESSING or row is None or row["plan"] != plan:
                return {"state": "stopped", "status": record.status.value}
            if row["done"]:
                return {"state": "done", "done": self._done_count(job_id), "total": record.progress_total}
            now = self._now()
            mine = row["holder"] == holder
            if renew and not mine:
                return {"state": "lost", "holder": row["holder"]}
            if not mine and row["holder"] is not None and (row["lease_until"] or 0) > now:
                return {"state": "held", "leaseUntil": row["lease_until"]}
            lapsed = not renew and row["holder"] is not None
            self._sql.exec(
                "UPDATE job_chunks SET holder = ?, lease_until = ?, claims = claims + ?, lapses = lapses + ?"
                " WHERE job_id = ? AND idx = ?",
                holder, now + lease_seconds, 0 if renew else 1, int(lapsed), job_id, index,
            )
            if is_fanout_holder(current) and (record.lease_until or 0) < now + job_lease_seconds:
                shard._write(job_id, {"lease_until": now + job_lease_seconds})
            return {"state": "claimed", "leaseUntil": now + lease_seconds, "lapses": int(row["lapses"]) + int(lapsed)}

        return self._sql.transaction(tx)

    def _rows_one(self, job_id: str, index: int) -> dict[str, Any] | None:
        rows = self._sql.exec("SELECT * FROM job_chunks WHERE job_id = ? AND idx = ?", job_id, index)
        return dict(rows[0]) if rows else None

    def stored(
        self, job_id: str, plan: str, index: int, characters: int, job_lease_seconds: float
    ) -> dict[str, Any]:
        """Chunk ``index`` is in R2: ``{"state": stored|duplicate|stopped, "done", "total"}``."""
        shard = self._shard

        def tx() -> dict[str, Any]:
            record, current = shard._load(job_id)
            row = self._rows_one(job_id, index)
            if record.status is not JobStatus.PROCESSING or row is None or row["plan"] != plan:
                return {"state": "stopped", "status": record.status.value, "done": 0, "total": record.progress_total}
            total = record.progress_total
            if row["done"]:
                return {"state": "duplicate", "done": self._done_count(job_id), "total": total}
            self._sql.exec(
                "UPDATE job_chunks SET done = 1, holder = NULL, lease_until = NULL, characters = ?"
                " WHERE job_id = ? AND idx = ?",
                characters, job_id, index,
            )
            done = self._done_count(job_id)
            now = self._now()
            changes: dict[str, Any] = {"progress_done": done, "characters": record.characters + characters}
            ends = input_ends(record, total)
            if ends:  # the chunk's input is done once all its chunks are: one count over that input's rows
                position = bisect.bisect_right(ends, index)
                start, end = (ends[position - 1] if position else 0), ends[position]
                stored_rows = self._sql.exec(
                    "SELECT COUNT(*) AS n FROM job_chunks WHERE job_id = ? AND idx >= ? AND idx < ? AND done = 1",
                    job_id, start, end,
                )
                if int(stored_rows[0]["n"]) >= end - start:
                    changes["progress_inputs"] = record.progress_inputs + 1
            if done >= total:  # the last one: the assembly message claims the job at once
                changes.update(lease_holder=None, lease_until=now)
            elif is_fanout_holder(current):
                changes["lease_until"] = max(record.lease_until or 0, now + job_lease_seconds)
            shard._update(record, **changes)
            return {"state": "stored", "done": done, "total": total}

        return self._sql.transaction(tx)

    def release(self, job_id: str, plan: str, index: int, holder: str, error: str | None) -> dict[str, Any]:
        """Hand chunk ``index`` back (a reported failure when ``error``); a no-op unless ``holder`` holds it."""

        def tx() -> dict[str, Any]:
            row = self._rows_one(job_id, index)
            if row is None or row["plan"] != plan or row["holder"] != holder:
                return {"state": "not_held"}
            self._sql.exec(
                "UPDATE job_chunks SET holder = NULL, lease_until = NULL, failures = failures + ?, error = ?"
                " WHERE job_id = ? AND idx = ?",
                1 if error else 0, error if error else row["error"], job_id, index,
            )
            return {"state": "released"}

        return self._sql.transaction(tx)

    def info(self, job_id: str, index: int) -> dict[str, Any] | None:
        """The row of chunk ``index`` (claims, lapses, failures, error), or None."""
        row = self._rows_one(job_id, index)
        if row is None:
            return None
        return {
            "plan": row["plan"], "done": bool(row["done"]), "claims": row["claims"], "lapses": row["lapses"],
            "failures": row["failures"], "error": row["error"],
        }

    def forget(self, job_ids: Sequence[str]) -> None:
        """Drop the rows of jobs that are final or deleted (inside the caller's transaction)."""
        for job_id in job_ids:
            self._sql.exec("DELETE FROM job_chunks WHERE job_id = ?", job_id)


# --- RPC operations (shared/jobs/rpc_payloads.py): one per method ----------------------------

_Plan = Annotated[str, Field(min_length=1, max_length=64)]
_Holder = Annotated[str, Field(min_length=1, max_length=128)]


class ChunkPlan(JobOperation):
    """Returns the job as it now is and the chunks not yet stored."""

    runs = "chunks.plan"
    changes = True
    plan: _Plan
    total: int = Field(ge=1, le=100_000)
    holder: _Holder
    stored: list[int] = Field(default_factory=list, max_length=100_000)
    lease_seconds: float = Field(gt=0)

    @staticmethod
    def encode(result: dict[str, Any]) -> Any:
        return result

    def decode(self, data: Any) -> tuple[JobRecord, list[int]]:
        return JobRecord.model_validate(data["record"]), [int(i) for i in data["pending"]]


class ChunkClaim(ReturnsDict, JobOperation):
    runs = "chunks.claim"
    plan: _Plan
    index: int = Field(ge=0)
    holder: _Holder
    lease_seconds: float = Field(gt=0)
    job_lease_seconds: float = Field(gt=0)
    renew: bool = False


class ChunkStored(ReturnsDict, JobOperation):
    runs = "chunks.stored"
    changes = True
    plan: _Plan
    index: int = Field(ge=0)
    characters: int = Field(ge=0)
    job_lease_seconds: float = Field(gt=0)


class ChunkRelease(ReturnsDict, JobOperation):
    runs = "chunks.release"
    plan: _Plan
    index: int = Field(ge=0)
    holder: _Holder
    error: str | None = Field(default=None, max_length=2000)


class ChunkInfo(ReturnsMaybeDict, JobOperation):
    runs = "chunks.info"
    index: int = Field(ge=0)
