"""One job shard: the logic of ``TtsJobDurableObject`` over a SQL port.

Every transition is one SQL transaction. Methods take and return plain
values or ``JobRecord``; the RPC layer (``shared.jobs.rpc``) turns them into
JSON-like payloads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import IllegalTransitionError, JobNotFoundError, LeaseHeldError, ShardError, ShardFullError
from shared.jobs.chunks import ChunkLedger, inputs_done_in_order, is_fanout_holder
from shared.jobs.lexicons import LexiconStore
from shared.jobs.outbox import WEBHOOKS, Outbox
from shared.jobs.reaper_state import ReaperStateStore
from shared.jobs.rpc_payloads import (
    MAX_PAGE_ROWS,
    JobOperation,
    Operation,
    ReturnsCount,
    ReturnsMaybeRecord,
    ReturnsOutcomes,
    ReturnsRecord,
    ReturnsRecords,
)
from shared.jobs.schema import COLUMNS, SCHEMA, create_schema, migrate_schema, schema_columns  # noqa: F401 - the schema's names, re-exported
from shared.jobs.state import can_transition
from shared.models import DeliveryState, JobRecord, JobStatus
from shared.platform_limits import DO_SQL_MAX_BOUND_PARAMETERS, QUEUE_MAX_BATCH_SIZE
from shared.ports import Clock, SqlPort

# Every column a record is built from (``lease_holder`` stays inside the shard).
ALL = ", ".join(COLUMNS)
# Everything but the text, for queries that return many rows (the text can be
# hundreds of KB and nobody listing jobs needs it).
META = ", ".join(c for c in COLUMNS if c not in ("text", "inputs"))  # a job's inputs go with its text
# Pages of many records (listings, the reaper's queries): also without a multi-input job's chunk ends
# (up to a few KB each, read by the shard's own chunk ledger only), so a page of MAX_PAGE_ROWS fits an RPC reply.
PAGE = ", ".join(c for c in COLUMNS if c not in ("text", "inputs", "input_chunks"))
# Reaper queries take at most this many ids per statement, under Cloudflare's
# bound parameters per query.
MAX_IDS_PER_QUERY = DO_SQL_MAX_BOUND_PARAMETERS - 10
_RECORD_FIELDS = frozenset(JobRecord.model_fields)
DELIVERY_STATES = frozenset({"pending", "delivering", "delivered", "failed"})
FINAL_DELIVERY_STATES = frozenset({"delivered", "failed"})


def _record(row: dict[str, Any]) -> JobRecord:
    return JobRecord.model_validate(row)


class JobShard:
    """The jobs of one shard."""

    def __init__(self, sql: SqlPort, clock: Clock, *, shard_count: int = 1) -> None:
        self._sql = sql
        self._clock = clock
        create_schema(sql)
        self.reaper_state = ReaperStateStore(sql)
        # The queue messages its writes call for, recorded in the same transactions (shared/jobs/outbox.py).
        self.outbox = Outbox(sql, clock, shard_count=shard_count)
        self.lexicons = LexiconStore(sql)  # used in a tenant's lexicon object only (shared/jobs/lexicons.py)
        self.chunks = ChunkLedger(self)  # a fanned-out job's chunks (shared/jobs/chunks.py)

    # --- reads --------------------------------------------------------------

    def get(self, job_id: str, *, with_text: bool = False) -> JobRecord | None:
        columns = ALL if with_text else META
        rows = self._sql.exec(f"SELECT {columns} FROM jobs WHERE job_id = ?", job_id)
        return _record(rows[0]) if rows else None

    def _require(self, job_id: str) -> JobRecord:
        record = self.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return record

    def _load(self, job_id: str, *, with_text: bool = False) -> tuple[JobRecord, str | None]:
        """The row a transition starts from, read once: the record and its lease holder."""
        columns = ALL if with_text else META
        rows = self._sql.exec(f"SELECT {columns}, lease_holder FROM jobs WHERE job_id = ?", job_id)
        if not rows:
            raise JobNotFoundError(job_id)
        row = dict(rows[0])
        holder = row.pop("lease_holder")
        return _record(row), holder

    def list_for_tenant(
        self, tenant: str, limit: int, before: tuple[float, str] | None = None
    ) -> list[JobRecord]:
        """The tenant's jobs, newest first, strictly older than ``before``."""
        if before is None:
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE tenant = ? ORDER BY created_at DESC, job_id DESC LIMIT ?",
                tenant,
                limit,
            )
        else:
            created, job_id = before
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE tenant = ? AND (created_at < ? OR (created_at = ? AND job_id < ?))"
                " ORDER BY created_at DESC, job_id DESC LIMIT ?",
                tenant,
                created,
                created,
                job_id,
                limit,
            )
        return [_record(r) for r in rows]

    def count_active(self, tenant: str) -> int:
        rows = self._sql.exec(
            "SELECT COUNT(*) AS n FROM jobs WHERE tenant = ? AND status IN ('queued', 'processing')", tenant
        )
        return int(rows[0]["n"])

    def find_idempotent(self, tenant: str, idempotency_key: str) -> JobRecord | None:
        """The tenant's live job created with this idempotency key, if any."""
        rows = self._sql.exec(
            f"SELECT {META} FROM jobs WHERE tenant = ? AND idempotency_key = ?", tenant, idempotency_key
        )
        if not rows:
            return None
        record = _record(rows[0])
        if record.expires_at is not None and record.expires_at <= self._clock():
            return None  # the key expired with its job
        return record

    # --- writes -------------------------------------------------------------

    def create(self, record: JobRecord) -> JobRecord:
        """Insert a new queued job; a repeat of the same id returns the stored one.

        With an idempotency key, a live job of the same tenant and key is
        returned instead (the caller compares ids to tell); an expired one
        gives its key up, so the key lives exactly as long as its job.
        """

        return self._sql.transaction(lambda: self._insert(record, None))

    def create_within_budget(self, record: JobRecord, budget: int) -> JobRecord:
        """``create``, admitted only while the tenant has fewer than ``budget`` jobs queued
        or processing on this shard; otherwise raises ``ShardFullError`` with that count.

        The count and the insert are one transaction, so concurrent submits
        cannot both take the last place (the API's admission rule,
        shared/api/admission.py, gives each shard its share of the limit).
        A repeat of an existing id or idempotency key returns the stored job
        whatever the count: it admits nothing new.
        """
        return self._sql.transaction(lambda: self._insert(record, budget))

    def _insert(self, record: JobRecord, budget: int | None) -> JobRecord:
        """The body of ``create`` (inside the caller's transaction)."""
        existing = self.get(record.job_id, with_text=True)
        if existing is not None:
            return existing
        if record.idempotency_key is not None:
            earlier = self.find_idempotent(record.tenant, record.idempotency_key)
            if earlier is not None:
                return earlier
        if budget is not None and not record.status.is_terminal:  # a job completed at submit is not in flight
            active = self.count_active(record.tenant)
            if active >= budget:
                raise ShardFullError(active, budget)
        if record.idempotency_key is not None:
            self._sql.exec(
                "UPDATE jobs SET idempotency_key = NULL WHERE tenant = ? AND idempotency_key = ?",
                record.tenant,
                record.idempotency_key,
            )
        values = record.model_dump()
        # A job to run: its message, on its own row (one row written for both).
        send = {} if record.status is JobStatus.COMPLETED else self.outbox.record_synthesis(record.job_id)
        columns = [*COLUMNS, *send]
        values.update(send)
        self._sql.exec(
            f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
            *(values[c].value if isinstance(values[c], JobStatus) else values[c] for c in columns),
        )
        if record.status is JobStatus.COMPLETED:  # completed at submit from the synthesis cache: no message
            # but its webhook and its delivery, as any completion (_settle)
            changes = self._delivery_on_settle(record, JobStatus.COMPLETED)
            if self.outbox.record_webhook_if_wanted(record, JobStatus.COMPLETED):
                changes["webhook_status"] = "pending"
            if changes:
                record = self._update(record, **changes)
        return record

    def _update(self, record: JobRecord, **changes: Any) -> JobRecord:
        """Write ``changes`` to the job's row; returns ``record`` with them applied (the row is
        not read again: ``record`` is what this transaction read, and nothing else writes it)."""
        changes["updated_at"] = self._clock()
        changes["version"] = record.version + 1  # the job's change counter (its events' ids)
        self._write(record.job_id, changes)
        return record.model_copy(update={k: v for k, v in changes.items() if k in _RECORD_FIELDS})

    def _write(self, job_id: str, changes: dict[str, Any]) -> None:
        assignments = ", ".join(f"{name} = ?" for name in changes)
        params = [v.value if isinstance(v, JobStatus) else v for v in changes.values()]
        self._sql.exec(f"UPDATE jobs SET {assignments} WHERE job_id = ?", *params, job_id)

    def _transition(self, record: JobRecord, target: JobStatus) -> None:
        if not can_transition(record.status, target):
            raise IllegalTransitionError(record.job_id, record.status.value, target.value)

    def claim(self, job_id: str, lease_seconds: float, holder: str | None = None) -> JobRecord:
        """Take the job for processing under a lease held by ``holder`` (the queue message's id).

        Returns the record; its status says what the caller should do: a
        ``processing`` record with our new lease means synthesize; a terminal
        record means nothing is left to do. A live lease held by another
        holder raises ``LeaseHeldError``. A live lease held by ``holder``
        itself is taken over: a message is only delivered again once its
        earlier delivery is over (acked, retried, or dead with its Worker),
        so that delivery will not renew the lease any more.
        """

        def tx() -> JobRecord:
            record, current = self._load(job_id, with_text=True)
            now = self._clock()
            if record.status.is_terminal:
                return record
            if record.deadline_at is not None and now >= record.deadline_at:
                # Past its deadline (cancelAfterSeconds): cancel instead of starting.
                return self._settle(
                    record, JobStatus.CANCELED, now,
                    error="deadline passed: the job was not finished within cancelAfterSeconds",
                )
            live = record.status is JobStatus.PROCESSING and (record.lease_until or 0) > now
            if live and (holder is None or current != holder):
                raise LeaseHeldError(job_id, record.lease_until or now, current)
            # Still processing under a delivery's claim: that delivery died without settling (a lapse).
            # A plan's lease (chunks fanned out) or none (the last chunk stored) is no delivery's.
            lapsed = record.status is JobStatus.PROCESSING and current is not None and not is_fanout_holder(current)
            return self._update(
                record,
                status=JobStatus.PROCESSING,
                attempts=record.attempts + 1,
                lapses=record.lapses + int(lapsed),
                lease_until=now + lease_seconds,
                lease_holder=holder,
                started_at=record.started_at or now,
                **self.outbox.cleared(job_id),  # claimed: its message needs no re-send (same row write)
            )

        return self._sql.transaction(tx)

    def claim_batch(self, items: Sequence[ClaimItem], lease_seconds: float) -> list[JobRecord | ShardError]:
        """``claim`` each item, each in its own transaction: an item the shard refuses (a live
        lease, a missing job) answers with its error and leaves the others claimed."""
        answers: list[JobRecord | ShardError] = []
        for item in items:
            try:
                answers.append(self.claim(item.job_id, lease_seconds, item.holder))
            except ShardError as exc:
                answers.append(exc)
        return answers

    def renew_lease(self, job_id: str, holder: str, lease_seconds: float) -> JobRecord:
        """The heartbeat of a delivery at work: push its lease ``lease_seconds`` ahead.

        Only a ``processing`` job held by ``holder`` changes; any other state
        comes back as it is (the caller sees it was canceled or finished), and
        a lease another delivery has taken raises ``LeaseHeldError``.
        """

        def tx() -> JobRecord:
            record, current = self._load(job_id)
            if record.status is not JobStatus.PROCESSING:
                return record
            if current != holder:
                raise LeaseHeldError(job_id, record.lease_until or 0, current)
            return self._update(record, lease_until=self._clock() + lease_seconds)

        return self._sql.transaction(tx)

    def complete(
        self,
        job_id: str,
        *,
        audio_key: str,
        mime_type: str,
        size_bytes: int,
        etag: str,
        characters: int,
        cache: Sequence[int] | None = None,
    ) -> JobRecord:
        """Mark the job completed; repeating it with the same key is a no-op. ``cache``: (chunks reused,
        chunks in all, provider characters saved) by the synthesis cache."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.status is JobStatus.COMPLETED and record.audio_key == audio_key:
                return record
            self._transition(record, JobStatus.COMPLETED)
            counts: dict[str, Any] = {}
            if cache is not None:
                counts = {"cache_reused": cache[0], "cache_total": cache[1], "cache_saved_chars": cache[2]}
            return self._settle(
                record,
                JobStatus.COMPLETED,
                self._clock(),
                error=None,
                audio_key=audio_key,
                mime_type=mime_type,
                size_bytes=size_bytes,
                etag=etag,
                characters=characters,
                **counts,
            )

        return self._sql.transaction(tx)

    def complete_batch(self, items: Sequence[CompleteItem]) -> list[JobRecord | ShardError]:
        """``complete`` each item, each in its own transaction, each answered on its own (as ``claim_batch``)."""
        answers: list[JobRecord | ShardError] = []
        for item in items:
            try:
                answers.append(self.complete(item.job_id, **item.model_dump(exclude={"job_id"})))
            except ShardError as exc:
                answers.append(exc)
        return answers

    def progress(
        self, job_id: str, *, done: int, total: int, characters: int, lease_seconds: float | None = None
    ) -> JobRecord:
        """Record a processing job's chunks done / total and characters billed, renewing its lease.

        Only a ``processing`` job changes; any other comes back as it is, so
        the caller sees from its status that it should stop (canceled).
        """

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.status is not JobStatus.PROCESSING:
                return record
            changes: dict[str, Any] = {"progress_done": done, "progress_total": total, "characters": characters}
            if record.input_chunks:
                changes["progress_inputs"] = inputs_done_in_order(record, done, total)
            if lease_seconds:
                changes["lease_until"] = self._clock() + lease_seconds
            return self._update(record, **changes)

        return self._sql.transaction(tx)

    def release(self, job_id: str, error: str) -> JobRecord:
        """Hand a processing job back to ``queued`` after a transient failure."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.status is not JobStatus.PROCESSING:
                return record
            # An empty error: handed back without a failure (a delivery stopped by its deadline).
            return self._update(
                record, status=JobStatus.QUEUED, lease_until=None, lease_holder=None, error=error or None
            )

        return self._sql.transaction(tx)

    def fail(self, job_id: str, error: str) -> JobRecord:
        """Fail a queued or processing job; failing a failed job is a no-op."""
        return self._finish(job_id, JobStatus.FAILED, error=error[:2000])

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel a queued or processing job; canceling a canceled job is a no-op."""
        return self._finish(job_id, JobStatus.CANCELED)

    def _finish(self, job_id: str, target: JobStatus, **changes: Any) -> JobRecord:
        """Move a job to a terminal state: it expires ``ttl_seconds`` from now."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.status is target:
                return record
            self._transition(record, target)
            return self._settle(record, target, self._clock(), **changes)

        return self._sql.transaction(tx)

    def _settle(self, record: JobRecord, target: JobStatus, now: float, **changes: Any) -> JobRecord:
        """The write of every terminal transition (inside the caller's transaction):
        finished now, expiring ``ttl_seconds`` from now, no lease, no chunk rows; its webhook recorded
        in the outbox."""
        self.chunks.forget([record.job_id])
        if self.outbox.record_webhook_if_wanted(record, target):
            changes["webhook_status"] = "pending"
        changes.update(self._delivery_on_settle(record, target))
        changes.update(self.outbox.cleared(record.job_id))
        return self._update(
            record,
            status=target,
            completed_at=now,
            expires_at=now + record.ttl_seconds,
            lease_until=None,
            lease_holder=None,
            **changes,
        )

    # --- webhook bookkeeping (shared/webhooks.py) ----------------------------
    # These leave updated_at alone: they describe the notification, not the job.

    def mark_webhook(self, job_id: str) -> JobRecord:
        """Note that a finished job's webhook delivery was enqueued (first time only)."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.webhook_status is not None:
                return record
            self._write(job_id, {"webhook_status": "pending"})
            return record.model_copy(update={"webhook_status": "pending"})

        return self._sql.transaction(tx)

    def record_webhook(
        self, job_id: str, *, status: str, attempts: int, last_status: int | None, last_error: str | None
    ) -> JobRecord:
        """Store a delivery attempt's outcome; a final outcome is never overwritten."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.webhook_status not in (None, "pending"):
                return record  # final: never overwritten
            changes = {
                "webhook_status": status,
                "webhook_attempts": attempts,
                "webhook_last_status": last_status,
                "webhook_last_error": (last_error or "")[:500] or None,
                "webhook_last_attempt_at": self._clock(),
            }
            self._write(job_id, changes)
            return record.model_copy(update=changes)

        return self._sql.transaction(tx)

    # --- delivery bookkeeping (shared/delivery.py) ----------------------------
    # Like the webhook's, these leave updated_at alone: the job stays as it finished.

    def _delivery_on_settle(self, record: JobRecord, target: JobStatus) -> dict[str, Any]:
        """A terminal transition's delivery changes: a completed job's delivery is recorded in the
        outbox (still ``pending``); a job that did not complete has nothing to deliver."""
        if not record.deliver_url or record.delivery_state != "pending" or record.delivery_attempts:
            return {}
        if target is not JobStatus.COMPLETED:
            return {"delivery_state": "failed", "delivery_last_error": f"the job {target.value}: nothing to deliver"}
        if not self.outbox.sends_to(WEBHOOKS):
            return {"delivery_state": "failed",
                    "delivery_last_error": "this deployment's job store has no delivery queue (TTS_WEBHOOKS)"}
        self.outbox.record_delivery(record.job_id)
        return {}

    def record_delivery(self, job_id: str, *, state: str, attempts: int, last_error: str | None) -> JobRecord:
        """Store a delivery attempt's state; a final one (delivered, failed) is never overwritten, and
        the transaction that writes it records the job's ``delivery`` webhook event if it wants one."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if not record.deliver_url or record.delivery_state in FINAL_DELIVERY_STATES:
                return record
            if state not in DELIVERY_STATES:
                raise ValueError(f"unknown delivery state {state!r}")
            changes: dict[str, Any] = {
                "delivery_state": state,
                "delivery_attempts": attempts,
                "delivery_last_error": (last_error or "")[:500] or None,
                "delivery_last_attempt_at": self._clock(),
            }
            updated = record.model_copy(update=changes)
            if state in FINAL_DELIVERY_STATES and self.outbox.record_delivery_webhook_if_wanted(updated):
                changes["delivery_webhook_status"] = "pending"
            self._write(job_id, changes)
            return record.model_copy(update=changes)

        return self._sql.transaction(tx)

    def record_delivery_webhook(self, job_id: str, *, status: str) -> JobRecord:
        """Store the outcome of the job's ``delivery`` webhook event (final ones stay)."""

        def tx() -> JobRecord:
            record = self._require(job_id)
            if record.delivery_webhook_status in ("delivered", "failed"):
                return record
            self._write(job_id, {"delivery_webhook_status": status})
            return record.model_copy(update={"delivery_webhook_status": status})

        return self._sql.transaction(tx)

    def delete(self, job_ids: Sequence[str]) -> int:
        """Delete job rows; returns how many existed."""
        deleted = 0
        for start in range(0, len(job_ids), MAX_IDS_PER_QUERY):
            chunk = list(job_ids[start : start + MAX_IDS_PER_QUERY])

            def tx(chunk: list[str] = chunk) -> int:
                marks = ", ".join("?" for _ in chunk)
                n = self._sql.exec(f"SELECT COUNT(*) AS n FROM jobs WHERE job_id IN ({marks})", *chunk)[0]["n"]
                self._sql.exec(f"DELETE FROM jobs WHERE job_id IN ({marks})", *chunk)
                self.chunks.forget(chunk)
                return int(n)

            deleted += self._sql.transaction(tx)
        return deleted

    # --- reaper queries -----------------------------------------------------

    def expired(self, now: float, limit: int, after: tuple[float, str] | None = None) -> list[JobRecord]:
        """Jobs whose ``expires_at`` has passed, oldest first; ``after`` is the
        ``(expires_at, job_id)`` of the previous page's last row (keyset paging)."""
        if after is None:
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE expires_at IS NOT NULL AND expires_at <= ?"
                " ORDER BY expires_at, job_id LIMIT ?",
                now,
                limit,
            )
        else:
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE expires_at IS NOT NULL AND expires_at >= ? AND expires_at <= ?"
                " AND (expires_at > ? OR job_id > ?) ORDER BY expires_at, job_id LIMIT ?",
                after[0],
                now,
                after[0],
                after[1],
                limit,
            )
        return [_record(r) for r in rows]

    def stale(
        self, status: JobStatus, updated_before: float, limit: int, after: tuple[float, str] | None = None
    ) -> list[JobRecord]:
        """Jobs sitting in ``status`` since before ``updated_before``, oldest first;
        ``after`` is the ``(updated_at, job_id)`` of the previous page's last row."""
        if after is None:
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE status = ? AND updated_at < ? ORDER BY updated_at, job_id LIMIT ?",
                status.value,
                updated_before,
                limit,
            )
        else:
            rows = self._sql.exec(
                f"SELECT {PAGE} FROM jobs WHERE status = ? AND updated_at >= ? AND updated_at < ?"
                " AND (updated_at > ? OR job_id > ?) ORDER BY updated_at, job_id LIMIT ?",
                status.value,
                after[0],
                updated_before,
                after[0],
                after[1],
                limit,
            )
        return [_record(r) for r in rows]

    def repair(self, job_id: str, expected_updated_at: float, action: str, error: str = "") -> JobRecord | None:
        """The reaper's fix for a stuck job, applied only if the job has not
        moved since the reaper read it (``updated_at`` unchanged): a
        compare-and-set, so a job a consumer just claimed is never touched.

        ``resend``: a queued job is stamped and its message recorded again (the outbox sends it, even if
        its first send was confirmed);
        ``requeue``: a processing job whose lease ran out goes back to queued, with a message;
        ``fail``: a queued or processing job fails. Returns the new record, or
        None when the job is gone, has moved on, or no longer qualifies.
        """

        def tx() -> JobRecord | None:
            record = self.get(job_id)
            if record is None or record.updated_at != expected_updated_at or record.status.is_terminal:
                return None
            now = self._clock()
            if action == "resend":
                if record.status is not JobStatus.QUEUED:
                    return None
                return self._update(record, **self.outbox.record_synthesis(job_id))
            if action == "requeue":
                if record.status is not JobStatus.PROCESSING or (record.lease_until or 0) > now:
                    return None
                return self._update(
                    record, status=JobStatus.QUEUED, lease_until=None, lease_holder=None, error=error[:2000] or None,
                    **self.outbox.record_synthesis(job_id),
                )
            if action == "fail":
                return self._settle(record, JobStatus.FAILED, now, error=error[:2000] or "failed by the reaper")
            raise ValueError(f"unknown repair action {action!r}")

        return self._sql.transaction(tx)

    def repair_many(self, items: Sequence[RepairItem]) -> list[JobRecord]:
        """``repair`` each item (one transaction each); returns the records that changed."""
        changed = (self.repair(i.job_id, i.expected_updated_at, i.action, i.error) for i in items)
        return [record for record in changed if record is not None]

    def lookup(self, job_ids: Sequence[str]) -> list[JobRecord]:
        out: list[JobRecord] = []
        for start in range(0, len(job_ids), MAX_IDS_PER_QUERY):
            chunk = list(job_ids[start : start + MAX_IDS_PER_QUERY])
            marks = ", ".join("?" for _ in chunk)
            rows = self._sql.exec(f"SELECT {PAGE} FROM jobs WHERE job_id IN ({marks})", *chunk)
            out.extend(_record(r) for r in rows)
        return out


# --- RPC operations (shared/jobs/rpc_payloads.py): one per method, its fields the method's arguments ---
# Those without a job id go to the shard the caller names (``JobsClient.call(op, shard=...)``).

MAX_BATCH_ITEMS = QUEUE_MAX_BATCH_SIZE
"""The most items a batched operation carries: a consumer batch's messages."""
_Page = Annotated[int, Field(ge=1, le=MAX_PAGE_ROWS)]
_Holder = Annotated[str, Field(min_length=1, max_length=128)]


class Create(ReturnsRecord, Operation):
    runs = "create"
    replays = True
    record: JobRecord

    def destination(self, shard_of: Callable[[str], str]) -> str | None:
        return shard_of(self.record.job_id)


class CreateWithinBudget(Create):
    runs = "create_within_budget"
    budget: int = Field(ge=0)


class Get(ReturnsMaybeRecord, JobOperation):
    runs = "get"
    with_text: bool = False


class Claim(ReturnsRecord, JobOperation):
    runs = "claim"
    changes = True
    lease_seconds: float = Field(gt=0)
    holder: _Holder | None = None


class ClaimItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    holder: _Holder | None = None


class ClaimBatch(ReturnsOutcomes, Operation):
    """The claims of one consumer batch's jobs on this shard: one request, one transaction per job."""

    runs = "claim_batch"
    changes = True
    items: list[ClaimItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)
    lease_seconds: float = Field(gt=0)

    def jobs(self) -> Sequence[str]:
        return tuple(i.job_id for i in self.items)


class RenewLease(ReturnsRecord, JobOperation):
    runs = "renew_lease"
    holder: _Holder
    lease_seconds: float = Field(gt=0)


class Complete(ReturnsRecord, JobOperation):
    runs = "complete"
    changes = True
    audio_key: str
    mime_type: str
    size_bytes: int
    etag: str
    characters: int = 0
    # The synthesis cache's counts: [chunks reused, chunks in all, provider characters saved].
    cache: list[int] | None = Field(default=None, min_length=3, max_length=3)


class CompleteItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    audio_key: str
    mime_type: str
    size_bytes: int
    etag: str
    characters: int = 0
    cache: list[int] | None = Field(default=None, min_length=3, max_length=3)


class CompleteBatch(ReturnsOutcomes, Operation):
    """The completions of one consumer batch's jobs on this shard: one request, one transaction per job."""

    runs = "complete_batch"
    changes = True
    items: list[CompleteItem] = Field(min_length=1, max_length=MAX_BATCH_ITEMS)

    def jobs(self) -> Sequence[str]:
        return tuple(i.job_id for i in self.items)


class Progress(ReturnsRecord, JobOperation):
    runs = "progress"
    changes = True
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    characters: int = Field(ge=0)
    lease_seconds: float | None = Field(default=None, gt=0)


class Release(ReturnsRecord, JobOperation):
    runs = "release"
    changes = True
    error: str


class Fail(ReturnsRecord, JobOperation):
    runs = "fail"
    changes = True
    error: str


class Cancel(ReturnsRecord, JobOperation):
    runs = "cancel"
    changes = True


class MarkWebhook(ReturnsRecord, JobOperation):
    runs = "mark_webhook"


class RecordWebhook(ReturnsRecord, JobOperation):
    runs = "record_webhook"
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(ge=0)
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=2000)


class RecordDelivery(ReturnsRecord, JobOperation):
    runs = "record_delivery"
    state: DeliveryState
    attempts: int = Field(ge=0)
    last_error: str | None = Field(default=None, max_length=2000)


class RecordDeliveryWebhook(ReturnsRecord, JobOperation):
    runs = "record_delivery_webhook"
    status: Literal["pending", "delivered", "failed"]


class Delete(ReturnsCount, Operation):
    runs = "delete"
    changes = True
    job_ids: list[str] = Field(max_length=MAX_PAGE_ROWS)

    def jobs(self) -> Sequence[str]:
        return self.job_ids


class Lookup(ReturnsRecords, Operation):
    runs = "lookup"
    job_ids: list[str] = Field(max_length=MAX_PAGE_ROWS)


class ListJobs(ReturnsRecords, Operation):
    runs = "list_for_tenant"
    tenant: str
    limit: _Page
    before: tuple[float, str] | None = None


class CountActive(ReturnsCount, Operation):
    runs = "count_active"
    tenant: str


class FindIdempotent(ReturnsMaybeRecord, Operation):
    runs = "find_idempotent"
    replays = True
    tenant: str
    idempotency_key: str = Field(min_length=1, max_length=128)


class Expired(ReturnsRecords, Operation):
    runs = "expired"
    now: float
    limit: _Page
    after: tuple[float, str] | None = None


class Stale(ReturnsRecords, Operation):
    runs = "stale"
    status: JobStatus
    updated_before: float
    limit: _Page
    after: tuple[float, str] | None = None


class RepairItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    job_id: str
    expected_updated_at: float
    action: Literal["resend", "requeue", "fail"]
    error: str = Field(default="", max_length=2000)


class Repair(ReturnsRecords, Operation):
    """Up to 100 of the reaper's compare-and-set repairs on one shard; returns the records that changed."""

    runs = "repair_many"
    changes = True
    items: list[RepairItem] = Field(max_length=100)

    def jobs(self) -> Sequence[str]:
        return tuple(i.job_id for i in self.items)
