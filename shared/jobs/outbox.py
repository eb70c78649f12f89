"""The shard's outbox: a queue message is recorded in the same transaction as the change it announces.

Writing a job and then sending its message are two steps that a crash can
separate; a job without its message would sit ``queued`` until the reaper's
stuck-job repair. So a shard never sends from inside a change: the change
records the message, in its own transaction, and the message leaves after
the commit. Two kinds of record:

**A job's ``SynthesizeJob`` message lives on the job's own row** (the
shard-only columns ``send_due_at`` and ``send_attempts``, shared/jobs/schema.py,
added to existing shards by ``migrate_schema``). The transaction that makes
the job ``queued`` (its insert; the reaper's re-send or re-queue) writes
``send_due_at = now + RESEND_AFTER_SECONDS`` in the same statement
(``record_synthesis``); the claim, or any end of the job, clears it in the
update it makes anyway (``cleared``). A confirmed send writes nothing: the
object remembers it in memory (``_confirmed``, one job id a queued job of
this shard at most). So a job writes 3 rows: its insert, claim and
completion. The alarm sends again every job still ``queued`` whose
``send_due_at`` has passed and whose send this object has not seen
confirmed (a process that died between the commit and the send, a send that
failed), and each such re-send pushes ``send_due_at`` back by ``backoff`` (one
row written, on that rare path only).

- *Crash between the commit and the send*: ``deliver`` arms the alarm for
  the message's due time before it sends (on Cloudflare ``setAlarm`` is
  durable, and nothing is awaited between the transaction and that call, so
  it is written with the commit; locally a timer, armed again at start by
  ``resume`` from the rows it finds). The alarm finds the job queued, past
  due, unconfirmed by the (new) object: it sends it.
- *A backlog* (the consumer slower than ``RESEND_AFTER_SECONDS``): a job sent
  and confirmed is never sent again by the object that sent it, however long
  it waits, and costs no write; its alarm is not re-armed for it. What the
  object forgets, it may send again: after an eviction (on Cloudflare, a deploy
  or an idle object; locally a restart) the first alarm sends every job still
  queued past its due time once more. A duplicate is harmless (the claim's
  lease lets one delivery work, a later one finds the job final), and each one
  pushes that job's next due time back by ``backoff`` (2, 4, ... 256, then
  300 s). **Worst case**: a job queued for ``T`` seconds on an object evicted
  before every alarm is sent ``1 + k`` times, ``k`` the backoff steps that fit
  in ``T - RESEND_AFTER_SECONDS`` (9 sends in its first 10 minutes, 19 in its
  first hour, then 12 an hour); with no eviction, once. Each duplicate costs a
  queue message and a claim request (a consumer's lease-held re-send, if it
  meets the job in work), and one row written: a deploy during a backlog of
  N jobs queued past their due time costs up to N of each, once.
- The alarm reads the shard's queued jobs (through the ``status`` index) at
  most once a ``RESEND_AFTER_SECONDS`` window under load, as before: rows read
  are $0.001 a million, so a backlog of 10,000 jobs on one shard read at every
  window costs $0.17 a day.
- ``deliver_pending``: an idempotent replay of a job whose message this
  object has not seen confirmed sends it at once instead of waiting for the
  alarm.

**Every other message is an ``outbox`` row** (only jobs that ask for them
have any): where the runtime gives the shard the webhook queue, a finished
job's ``DeliverWebhook`` in the transition that finishes it (marking its
webhook ``pending``, so the consumer's ``WebhookNotifier`` finds it announced
and sends nothing itself); on the same queue a completed job's
``DeliverAudio`` (its ``deliver.url``), and the ``delivery`` webhook event in
the transaction that ends that delivery. Such a row is deleted once its send
is confirmed (two rows written a message); a row still here is unsent, due
``RESEND_AFTER_SECONDS`` after it was written and sent by the same alarm.
``SynthesizeJob`` rows an older deploy left in the table are sent the same way.

Delivery stays at least once either way. Nothing here raises after the
commit: a storage or queue failure is logged and left to the alarm. The
alarm is armed only when no earlier alarm is set: under load one alarm a
``RESEND_AFTER_SECONDS`` window, not one a job.

Other synthesis messages are not the shard's: the consumer's retries (the
queue's own), its chunk tasks and assembly message (shared/fanout.py) and its
re-send of a message delayed past a lease it met (shared/consumer.py) are
sent by the consumer while it still holds the message that calls for them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.jobs.schema import SEND_ATTEMPTS, SEND_DUE_AT
from shared.jobs.sharding import shard_for
from shared.models import (
    EVENT_OF_STATUS, DeliverAudio, DeliverWebhook, JobRecord, JobStatus, SynthesizeJob, WebhookEvent, webhook_events,
)
from shared.platform_limits import QUEUE_SEND_BATCH_MAX_BYTES, QUEUE_SEND_BATCH_MAX_MESSAGES
from shared.ports import Clock, JsonValue, QueueProducer, SqlPort

if TYPE_CHECKING:
    from shared.logs import JsonLogger

JOBS = "jobs"
"""The producer key of the jobs queue (``TTS_JOBS``, tts-jobs)."""
WEBHOOKS = "webhooks"
"""The producer key of the webhook queue (``TTS_WEBHOOKS``, tts-webhooks)."""

RESEND_AFTER_SECONDS = 5.0
"""A message not confirmed this long after it was recorded is sent again by the alarm."""
MAX_BACKOFF_SECONDS = 300.0
SENDS_PER_ALARM = 500
"""Messages one alarm sends at most (in sendBatch calls of up to 100); more re-arm the alarm at once."""
_JOB_MESSAGE = "job:"
"""The ``message_id`` prefix of a job's synthesis message kept on its row."""

SCHEMA = (
    # No secondary index: the table holds only unsent rows (almost always none), so its scans
    # are short, while Cloudflare bills each index entry written as one more row written.
    "CREATE TABLE IF NOT EXISTS outbox (message_id TEXT PRIMARY KEY, queue TEXT NOT NULL, job_id TEXT NOT NULL,"
    " body TEXT NOT NULL, delay_seconds INTEGER NOT NULL DEFAULT 0, created_at REAL NOT NULL,"
    " due_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT)",
)


def create_outbox_schema(sql: SqlPort) -> None:
    """Create the ``outbox`` table of a shard that has none (idempotent: a shard's first
    construction after the deploy that brought it adds it to the existing database)."""
    for statement in SCHEMA:
        sql.exec(statement)


class Alarm(Protocol):
    """The shard's wake-up call: ``ctx.storage.setAlarm`` on Cloudflare, a timer locally."""

    async def set(self, at: float) -> None:
        """Call the shard's ``alarm`` at unix time ``at`` (replacing any alarm set before)."""
        ...


@dataclass(frozen=True)
class OutboxRow:
    """A message to send: an ``outbox`` row, or (``on_job_row``) a job's synthesis message on its row."""

    message_id: str
    queue: str
    job_id: str
    body: JsonValue
    delay_seconds: int
    attempts: int
    due_at: float
    on_job_row: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboxRow:
        return cls(
            str(row["message_id"]), str(row["queue"]), str(row["job_id"]), json.loads(row["body"]),
            int(row["delay_seconds"]), int(row["attempts"]), float(row["due_at"]),
        )


def backoff(attempts: int) -> float:
    """Seconds until a row whose send failed ``attempts`` times is due again: 2, 4, 8, ... 300."""
    return float(min(MAX_BACKOFF_SECONDS, 2.0 ** max(attempts, 1)))


class Outbox:
    """The unsent queue messages of one shard."""

    def __init__(self, sql: SqlPort, clock: Clock, *, shard_count: int = 1) -> None:
        self._sql = sql
        self._clock = clock
        self.shard_count = shard_count
        self.producers: dict[str, QueueProducer] = {}
        self.alarm: Alarm | None = None
        self.log: JsonLogger | None = None
        self._fresh: list[OutboxRow] = []  # recorded by the operation running now
        self._sending: set[str] = set()
        self._confirmed: set[str] = set()  # queued jobs whose synthesis message this object saw sent
        self._alarm_at: float | None = None  # the alarm this object set and that has not fired yet
        create_outbox_schema(sql)

    def connect(
        self, producers: Mapping[str, QueueProducer], alarm: Alarm | None, log: JsonLogger | None = None
    ) -> None:
        """The runtime's part: the queues this shard sends to, its alarm, its logger."""
        self.producers = dict(producers)
        self.alarm = alarm
        self.log = log

    def sends_to(self, queue: str) -> bool:
        return queue in self.producers

    # --- inside a transaction -------------------------------------------------

    def record(self, queue: str, job_id: str, body: JsonValue, *, delay_seconds: int = 0) -> OutboxRow:
        """Add a message to send once the caller's transaction commits."""
        now = self._clock()
        row = OutboxRow(uuid.uuid4().hex, queue, job_id, body, int(delay_seconds), 0, now + RESEND_AFTER_SECONDS)
        self._sql.exec(
            "INSERT INTO outbox (message_id, queue, job_id, body, delay_seconds, created_at, due_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            row.message_id, queue, job_id, json.dumps(body, separators=(",", ":")), row.delay_seconds, now,
            row.due_at,
        )
        self._fresh.append(row)
        return row

    def record_synthesis(self, job_id: str) -> dict[str, Any]:
        """Inside the transaction that makes ``job_id`` queued: its ``SynthesizeJob`` message, sent once
        the transaction commits. Returns the job-row columns that hold it, for the caller to write in
        the statement it writes the job with (no row of its own)."""
        due = self._clock() + RESEND_AFTER_SECONDS
        self._confirmed.discard(job_id)
        self._fresh.append(self._synthesis(job_id, 0, due))
        return {SEND_DUE_AT: due, SEND_ATTEMPTS: 0}

    def cleared(self, job_id: str) -> dict[str, Any]:
        """Inside a transaction that takes ``job_id`` out of ``queued`` (its claim, its end): the
        job-row columns that say its message needs no re-send, for the caller's own update."""
        self._confirmed.discard(job_id)
        return {SEND_DUE_AT: None}

    def _synthesis(self, job_id: str, attempts: int, due_at: float) -> OutboxRow:
        body = SynthesizeJob(jobId=job_id, shard=shard_for(job_id, self.shard_count)).body()
        return OutboxRow(_JOB_MESSAGE + job_id, JOBS, job_id, body, 0, attempts, due_at, on_job_row=True)

    def record_webhook(self, job_id: str, event: WebhookEvent) -> OutboxRow:
        """The job's ``DeliverWebhook`` message on the webhook queue."""
        body = DeliverWebhook(jobId=job_id, shard=shard_for(job_id, self.shard_count), event=event)
        return self.record(WEBHOOKS, job_id, body.model_dump(mode="json"))

    def record_webhook_if_wanted(self, record: JobRecord, target: JobStatus) -> bool:
        """Inside a terminal transition of ``record`` to ``target``: record its webhook when the job
        wants that event, none was announced yet and this shard sends webhooks; returns whether."""
        event = EVENT_OF_STATUS.get(target)
        if event is None or not record.webhook_url or record.webhook_status is not None:
            return False
        if not self.sends_to(WEBHOOKS) or event not in webhook_events(record):
            return False
        self.record_webhook(record.job_id, event)
        return True

    def record_delivery(self, job_id: str) -> OutboxRow:
        """A completed job's ``DeliverAudio`` message (PUT its audio to ``deliver.url``), on the
        webhook queue: the same consumer, retries and backoff (shared/delivery.py)."""
        body = DeliverAudio(jobId=job_id, shard=shard_for(job_id, self.shard_count))
        return self.record(WEBHOOKS, job_id, body.model_dump(mode="json"))

    def record_delivery_webhook_if_wanted(self, record: JobRecord) -> bool:
        """Inside the transaction that ends ``record``'s delivery: record its ``delivery`` webhook
        event when the job wants it and this shard sends webhooks; returns whether."""
        if not record.webhook_url or record.delivery_webhook_status is not None:
            return False
        if not self.sends_to(WEBHOOKS) or WebhookEvent.DELIVERY not in webhook_events(record):
            return False
        self.record_webhook(record.job_id, WebhookEvent.DELIVERY)
        return True

    def take_fresh(self) -> list[OutboxRow]:
        """The rows the operation that just ran recorded (the caller sends them if it committed)."""
        rows, self._fresh = self._fresh, []
        return rows

    # --- after the commit -----------------------------------------------------

    async def deliver(self, rows: Sequence[OutboxRow]) -> None:
        """Send rows whose transaction committed; the alarm is armed first."""
        if not rows:
            return
        await self._arm(min(r.due_at for r in rows))
        await self._send(rows)

    async def deliver_pending(self, job_ids: Sequence[str]) -> int:
        """Send now every message of these jobs not seen sent (an idempotent replay); returns how many
        were found."""
        ids = [j for j in dict.fromkeys(job_ids) if j]
        if not ids:
            return 0
        try:
            marks = ", ".join("?" for _ in ids)
            rows = [OutboxRow.from_row(r) for r in self._sql.exec(
                f"SELECT * FROM outbox WHERE job_id IN ({marks})", *ids)]
            rows += self._job_messages(f" AND job_id IN ({marks})", *ids)
        except Exception as exc:  # noqa: BLE001 - storage trouble: the alarm has them
            self._warn("outbox_read_failed", error=repr(exc)[:300])
            return 0
        if rows:
            self._info("outbox_replay", jobIds=sorted({r.job_id for r in rows}), messages=len(rows))
            await self._send(rows, resend=True)
        return len(rows)

    async def on_alarm(self) -> int:
        """The alarm: send every due message (``SENDS_PER_ALARM`` at most) and re-arm for the rest;
        returns how many were sent."""
        self._alarm_at = None
        now = self._clock()
        rows = [OutboxRow.from_row(r) for r in self._sql.exec(
            "SELECT * FROM outbox WHERE due_at <= ? ORDER BY due_at LIMIT ?", now, SENDS_PER_ALARM)]
        rows += [r for r in self._job_messages(prune=True) if r.due_at <= now][: SENDS_PER_ALARM - len(rows)]
        sent = await self._send(rows, resend=True)
        if rows:
            self._info("outbox_resent", messages=sent, due=len(rows))
        upcoming = self.next_due()
        if upcoming is not None:
            await self._arm(max(upcoming, now + 1.0))
        return sent

    async def resume(self) -> None:
        """Arm the alarm for the messages already here (a local shard opened after a restart;
        on Cloudflare the alarm itself is durable)."""
        upcoming = self.next_due()
        if upcoming is not None:
            await self._arm(upcoming)

    # --- inspection -----------------------------------------------------------

    def next_due(self) -> float | None:
        """When the earliest message not seen sent is due (None: every one was)."""
        rows = self._sql.exec("SELECT MIN(due_at) AS due FROM outbox")
        dues = [float(rows[0]["due"])] if rows and rows[0]["due"] is not None else []
        dues += [r.due_at for r in self._job_messages()[:1]]
        return min(dues) if dues else None

    def pending(self) -> list[OutboxRow]:
        """Every message not seen sent (by this object), earliest due first."""
        return sorted([*self.table_rows(), *self._job_messages()], key=lambda r: r.due_at)

    def table_rows(self) -> list[OutboxRow]:
        """The ``outbox`` table's rows (webhook and delivery messages, unsent)."""
        return [OutboxRow.from_row(r) for r in self._sql.exec("SELECT * FROM outbox ORDER BY due_at")]

    def _job_messages(self, where: str = "", *params: Any, prune: bool = False) -> list[OutboxRow]:
        """The synthesis messages on queued jobs' rows that this object has not seen sent, earliest
        due first (``where`` narrows the query: `` AND ...``). ``prune`` (a query of every queued job):
        forget the confirmed sends of jobs no longer queued, such as one claimed while its send was
        being confirmed, so the memory holds at most the shard's queued jobs."""
        rows = self._sql.exec(
            f"SELECT job_id, {SEND_DUE_AT}, {SEND_ATTEMPTS} FROM jobs"
            f" WHERE status = 'queued' AND {SEND_DUE_AT} IS NOT NULL{where}", *params)
        if prune:  # before any await: a send confirmed after the query is kept
            self._confirmed.intersection_update(r["job_id"] for r in rows)
        found = [self._synthesis(str(r["job_id"]), int(r[SEND_ATTEMPTS]), float(r[SEND_DUE_AT]))
                 for r in rows if r["job_id"] not in self._confirmed]
        return sorted(found, key=lambda r: r.due_at)

    # --- internals ------------------------------------------------------------

    async def _send(self, rows: Sequence[OutboxRow], *, resend: bool = False) -> int:
        """Send ``rows`` (one ``sendBatch`` per run of rows for the same queue and delay, within
        Cloudflare's batch limits); settle each sent one, reschedule each failed one. ``resend``: the
        alarm's or a replay's (a job's message sent then has its next due time pushed back)."""
        sent = 0
        retry_at: list[float] = []
        for batch in _batches([r for r in rows if r.queue in self.producers and r.message_id not in self._sending]):
            producer = self.producers[batch[0].queue]
            self._sending.update(r.message_id for r in batch)
            try:
                if len(batch) == 1:
                    await producer.send(batch[0].body, delay_seconds=batch[0].delay_seconds)
                else:
                    await producer.send_batch([r.body for r in batch], delay_seconds=batch[0].delay_seconds)
            except Exception as exc:  # noqa: BLE001 - any failure: the rows stay, due again later
                retry_at.extend(self._failed(row, exc) for row in batch)
            else:
                sent += len(batch)
                for row in batch:
                    self._sent(row, resend)
            finally:
                self._sending.difference_update(r.message_id for r in batch)
        if retry_at:
            await self._arm(min(retry_at))
        return sent

    def _sent(self, row: OutboxRow, resend: bool) -> None:
        if row.on_job_row:
            # Confirmed: this object will not send it again. The first send writes nothing; a re-send
            # spaces the next one (should this object be evicted) by the backoff.
            self._confirmed.add(row.job_id)
            if resend:
                self._reschedule(row, row.attempts + 1, self._clock() + backoff(row.attempts + 1), None)
            return
        try:
            self._sql.exec("DELETE FROM outbox WHERE message_id = ?", row.message_id)
        except Exception as exc:  # noqa: BLE001 - sent, not marked: sent again by the alarm (harmless)
            self._warn("outbox_mark_failed", jobId=row.job_id, error=repr(exc)[:300])

    def _failed(self, row: OutboxRow, exc: Exception) -> float:
        attempts = row.attempts + 1
        due = self._clock() + backoff(attempts)
        error = f"{type(exc).__name__}: {exc}"[:500]
        self._warn("outbox_send_failed", jobId=row.job_id, queue=row.queue, attempts=attempts, retryAt=due,
                   error=error)
        self._reschedule(row, attempts, due, error)
        return due

    def _reschedule(self, row: OutboxRow, attempts: int, due: float, error: str | None) -> None:
        """Write the message's next due time (a job's: only while it is still queued and unclaimed)."""
        try:
            if row.on_job_row:
                self._sql.exec(
                    f"UPDATE jobs SET {SEND_DUE_AT} = ?, {SEND_ATTEMPTS} = ? WHERE job_id = ?"
                    f" AND status = 'queued' AND {SEND_DUE_AT} IS NOT NULL",
                    due, attempts, row.job_id,
                )
            else:
                self._sql.exec(
                    "UPDATE outbox SET attempts = ?, due_at = ?, last_error = ? WHERE message_id = ?",
                    attempts, due, error, row.message_id,
                )
        except Exception as store_exc:  # noqa: BLE001 - the message keeps its old due time
            self._warn("outbox_mark_failed", jobId=row.job_id, error=repr(store_exc)[:300])

    async def _arm(self, at: float) -> None:
        if self.alarm is None:
            return
        if self._alarm_at is not None and self._alarm_at <= at:
            return  # an earlier alarm is set: it re-arms for what is left
        try:
            await self.alarm.set(at)
        except Exception as exc:  # noqa: BLE001 - the next operation or restart arms it again
            self._warn("outbox_alarm_failed", error=repr(exc)[:300])
            return
        self._alarm_at = at

    def _info(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self.log.info(event, **fields)

    def _warn(self, event: str, **fields: Any) -> None:
        if self.log is not None:
            self.log.warning(event, **fields)


def _batches(rows: Sequence[OutboxRow]) -> list[list[OutboxRow]]:
    """``rows`` in runs that one ``sendBatch`` takes: the same queue and delay, at most
    ``QUEUE_SEND_BATCH_MAX_MESSAGES`` messages and ``QUEUE_SEND_BATCH_MAX_BYTES`` of bodies."""
    batches: list[list[OutboxRow]] = []
    size = 0
    for row in rows:
        body_bytes = len(json.dumps(row.body, separators=(",", ":")).encode())
        current = batches[-1] if batches else None
        if (
            current is None
            or (current[0].queue, current[0].delay_seconds) != (row.queue, row.delay_seconds)
            or len(current) >= QUEUE_SEND_BATCH_MAX_MESSAGES
            or size + body_bytes > QUEUE_SEND_BATCH_MAX_BYTES
        ):
            batches.append([row])
            size = body_bytes
        else:
            current.append(row)
            size += body_bytes
    return batches
