"""The shard's outbox: a queue message is written in the same transaction as the change it announces.

Writing a job and then sending its message are two steps that a crash can
separate; a job without its message would sit ``queued`` until the reaper's
stuck-job repair. So a shard never sends from inside a change: the change
records the message here, in its own transaction (``record``), and the
message leaves after the commit.

- After each RPC operation the shard's service sends what that operation
  recorded (``deliver``) and deletes each row whose send the queue confirmed:
  a row is deleted, never updated, once sent; a row still here is unsent.
- A send that fails keeps its row, due again after a backoff. Every row is
  due ``RESEND_AFTER_SECONDS`` after it was written, and the shard's alarm
  (a Durable Object alarm on Cloudflare, a timer in the local runtime, which
  also re-arms at start from the rows it finds) sends every due row
  (``on_alarm``): the rows of a process that died between the commit and the
  send, and the failed ones.
- ``deliver_pending``: an idempotent replay of a job whose message is
  unconfirmed sends it at once instead of waiting for the alarm.

What a shard records: a new job's ``SynthesizeJob``, the same again when
the reaper re-sends or re-queues it, and, where the runtime gives the shard
the webhook queue, a finished job's ``DeliverWebhook`` in the transition
that finishes it (marking its webhook ``pending``, so the consumer's
``WebhookNotifier`` finds it announced and sends nothing itself); on the
same queue a completed job's ``DeliverAudio`` (its ``deliver.url``), and the
``delivery`` webhook event in the transaction that ends that delivery.

Cost: two rows written a message (its insert and its delete; on Cloudflare
$2 per million jobs). Delivery stays at least once: a row sent whose delete did not happen is sent
again, which the consumer's claim makes harmless. Nothing here raises after
the commit: a storage or queue failure is logged and left to the alarm.

The alarm is armed before the first send (on Cloudflare ``setAlarm`` is
durable, so a send cut short by the object's eviction is still re-sent),
and only when no earlier alarm is set: under load one alarm a
``RESEND_AFTER_SECONDS`` window, not one a job.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from shared.models import webhook_events
from shared.jobs.sharding import shard_for
from shared.models import (
    EVENT_OF_STATUS, DeliverAudio, DeliverWebhook, JobRecord, JobStatus, SynthesizeJob, WebhookEvent,
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
"""A row not confirmed this long after it was written is sent again by the alarm."""
MAX_BACKOFF_SECONDS = 300.0
SENDS_PER_ALARM = 500
"""Rows one alarm sends at most (in sendBatch calls of up to 100); more re-arm the alarm at once."""

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
    message_id: str
    queue: str
    job_id: str
    body: JsonValue
    delay_seconds: int
    attempts: int
    due_at: float

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

    def record_synthesis(self, job_id: str) -> OutboxRow:
        """The job's ``SynthesizeJob`` message on the jobs queue."""
        body = SynthesizeJob(jobId=job_id, shard=shard_for(job_id, self.shard_count)).body()
        return self.record(JOBS, job_id, body)

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
        """Send now every unsent row of these jobs (an idempotent replay); returns how many were found."""
        ids = [j for j in dict.fromkeys(job_ids) if j]
        if not ids:
            return 0
        try:
            marks = ", ".join("?" for _ in ids)
            rows = [OutboxRow.from_row(r) for r in self._sql.exec(
                f"SELECT * FROM outbox WHERE job_id IN ({marks})", *ids)]
        except Exception as exc:  # noqa: BLE001 - storage trouble: the alarm has them
            self._warn("outbox_read_failed", error=repr(exc)[:300])
            return 0
        if rows:
            self._info("outbox_replay", jobIds=sorted({r.job_id for r in rows}), messages=len(rows))
            await self._send(rows)
        return len(rows)

    async def on_alarm(self) -> int:
        """The alarm: send every due row (``SENDS_PER_ALARM`` at most) and re-arm for the rest;
        returns how many were sent."""
        self._alarm_at = None
        now = self._clock()
        rows = [OutboxRow.from_row(r) for r in self._sql.exec(
            "SELECT * FROM outbox WHERE due_at <= ? ORDER BY due_at LIMIT ?", now, SENDS_PER_ALARM)]
        sent = await self._send(rows)
        if rows:
            self._info("outbox_resent", messages=sent, due=len(rows))
        upcoming = self.next_due()
        if upcoming is not None:
            await self._arm(max(upcoming, now + 1.0))
        return sent

    async def resume(self) -> None:
        """Arm the alarm for the rows already here (a local shard opened after a restart;
        on Cloudflare the alarm itself is durable)."""
        upcoming = self.next_due()
        if upcoming is not None:
            await self._arm(upcoming)

    # --- inspection -----------------------------------------------------------

    def next_due(self) -> float | None:
        rows = self._sql.exec("SELECT MIN(due_at) AS due FROM outbox")
        due = rows[0]["due"] if rows else None
        return float(due) if due is not None else None

    def pending(self) -> list[OutboxRow]:
        return [OutboxRow.from_row(r) for r in self._sql.exec("SELECT * FROM outbox ORDER BY due_at")]

    # --- internals ------------------------------------------------------------

    async def _send(self, rows: Sequence[OutboxRow]) -> int:
        """Send ``rows`` (one ``sendBatch`` per run of rows for the same queue and delay, within
        Cloudflare's batch limits); delete each sent row, reschedule each failed one."""
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
                    self._sent(row)
            finally:
                self._sending.difference_update(r.message_id for r in batch)
        if retry_at:
            await self._arm(min(retry_at))
        return sent

    def _sent(self, row: OutboxRow) -> None:
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
        try:
            self._sql.exec(
                "UPDATE outbox SET attempts = ?, due_at = ?, last_error = ? WHERE message_id = ?",
                attempts, due, error, row.message_id,
            )
        except Exception as store_exc:  # noqa: BLE001 - the row keeps its old due time
            self._warn("outbox_mark_failed", jobId=row.job_id, error=repr(store_exc)[:300])
        return due

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
