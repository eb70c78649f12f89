"""A durable Cloudflare Queue on SQLite: producer, and consumer-side leasing.

Every message is a row (one table holds every queue of a database file, by
name), so a killed process loses nothing: queued messages stay queued, and a
delivered-but-unsettled message comes back when its visibility lease runs
out, with ``attempts`` one higher. Semantics follow Cloudflare Queues:

- ``send`` / ``send_batch``: bodies are JSON-like values (checked by
  ``boundary``), 128 KB each, a batch at most 100 messages and 256 KB,
  ``delay_seconds`` 0..43,200.
- ``pull_batch``: up to ``max_batch_size`` visible messages, each leased for
  ``visibility_timeout`` seconds; ``attempts`` counts deliveries (1 first).
- ``settle``: ack deletes; retry makes it visible again after its delay,
  unless it has been delivered more than ``max_retries`` times, when it moves
  to the dead-letter queue (or is dropped if there is none).
- ``settle_batch``: Cloudflare's implicit rule for what the handler did not
  settle explicitly: if the handler returned, those messages are acked; if it
  raised (or was ended at a limit), they are retried.
- a leased message's ``ack()`` / ``retry()`` (Cloudflare's ``message.ack()``,
  ``message.retry()``) settle it at once, in its own transaction; the batch's
  end skips it.

The runner that drives a consumer lives in ``queue_runner``; the value types
(``Outcome``, ``QueueConsumerConfig``, ``LeasedMessage``) in ``queue_types``
and are re-exported here.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TypeVar

from shared.errors import LimitExceededError
from shared.platform_limits import (
    QUEUE_BILLING_CHUNK_BYTES,
    QUEUE_MAX_MESSAGE_BYTES,
    QUEUE_SEND_BATCH_MAX_BYTES,
    QUEUE_SEND_BATCH_MAX_MESSAGES,
)
from shared.ports import Clock, JsonValue

from local_runtime import limits
from local_runtime.private_files import private_file

from .boundary import check_rpc_value
from .meter import QUEUE_DELETE, QUEUE_READ, QUEUE_WRITE, Meter, count
from .storage_errors import guarded, rollback_quietly
from .queue_types import (
    LeasedMessage,
    Outcome,
    QueueConsumerConfig,
    add_listener,
    check_delay,
    notify,
    remove_listener,
)

__all__ = [
    "LeasedMessage",
    "LocalQueue",
    "Outcome",
    "QueueConsumerConfig",
    "add_listener",
    "remove_listener",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,
    body TEXT NOT NULL, size INTEGER NOT NULL, enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    in_flight INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS queue_messages_visible ON queue_messages (queue, visible_at);
"""


def _chunks(size: int) -> int:
    """Billable operations for one message: one per 64 KB, at least one."""
    return max(1, -(-size // QUEUE_BILLING_CHUNK_BYTES))


class LocalQueue:
    """One named queue in a SQLite file; producer (``QueueProducer``) and consumer side."""

    def __init__(
        self,
        db_path: str | Path,
        name: str,
        meter: Meter | None = None,
        clock: Clock = time.time,
        *,
        visibility_timeout: float = 30.0,
        busy_timeout: float = 10.0,
    ) -> None:
        """``busy_timeout``: how long a write waits for another connection's write lock
        before it fails as ``StorageUnavailableError("locked")``."""
        if not name:
            raise ValueError("a queue needs a name")
        self.db_path = os.path.realpath(db_path)
        self.name = name
        self.meter = meter
        self.visibility_timeout = visibility_timeout
        self._clock = clock
        self._config = QueueConsumerConfig()
        self._lock = threading.RLock()
        self._pending_wakes: set[str] = set()
        private_file(self.db_path)  # 0600 before SQLite opens it (its -wal and -shm take the same mode)
        self._conn = sqlite3.connect(
            self.db_path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    # --- producer ------------------------------------------------------------

    @guarded
    async def send(self, body: JsonValue, *, delay_seconds: float = 0) -> None:
        """Enqueue one message, visible after ``delay_seconds``."""
        limits.subrequest()
        self._enqueue([(body, "body")], delay_seconds)

    @guarded
    async def send_batch(self, bodies: Sequence[JsonValue], *, delay_seconds: float = 0) -> None:
        """Enqueue up to 100 messages (256 KB in all) atomically."""
        limits.subrequest()
        items = list(bodies)
        if len(items) > QUEUE_SEND_BATCH_MAX_MESSAGES:
            raise LimitExceededError(
                f"send_batch of {len(items)} messages, over the limit of {QUEUE_SEND_BATCH_MAX_MESSAGES}"
            )
        self._enqueue([(body, f"bodies[{i}]") for i, body in enumerate(items)], delay_seconds)

    def _enqueue(self, items: list[tuple[JsonValue, str]], delay_seconds: float) -> None:
        delay = check_delay(delay_seconds)
        texts = []
        for body, what in items:
            copy = check_rpc_value(body, what=what, max_bytes=QUEUE_MAX_MESSAGE_BYTES)
            texts.append(json.dumps(copy, separators=(",", ":"), ensure_ascii=False))
        sizes = [len(text.encode("utf-8")) for text in texts]
        if sum(sizes) > QUEUE_SEND_BATCH_MAX_BYTES:
            raise LimitExceededError(
                f"send_batch of {sum(sizes)} bytes, over the limit of {QUEUE_SEND_BATCH_MAX_BYTES}"
            )
        if not texts:
            return
        now = self._clock()
        rows = [(uuid.uuid4().hex, self.name, t, s, now, now + delay) for t, s in zip(texts, sizes)]

        def insert() -> None:
            self._conn.executemany(
                "INSERT INTO queue_messages (id, queue, body, size, enqueued_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )

        self._pending_wakes.add(self.name)
        self._transaction(insert)
        count(self.meter, QUEUE_WRITE, sum(_chunks(size) for size in sizes))

    # --- consumer ------------------------------------------------------------

    @guarded
    async def pull_batch(self, config: QueueConsumerConfig | None = None) -> list[LeasedMessage]:
        """Lease up to ``max_batch_size`` visible messages, oldest first.

        ``config`` is remembered as this queue's consumer settings for later
        ``settle`` calls. Messages whose lease ran out after their last allowed
        delivery are dead-lettered here instead of being delivered again.
        """
        config = self._config = config or self._config
        if config.dead_letter_queue == self.name:
            raise ValueError(f"queue {self.name!r} cannot be its own dead-letter queue")
        now = self._clock()
        until = now + self.visibility_timeout

        def lease() -> list[LeasedMessage]:
            exhausted = self._conn.execute(
                "SELECT id, size FROM queue_messages WHERE queue = ? AND in_flight = 1 "
                "AND visible_at <= ? AND attempts > ?",
                (self.name, now, config.max_retries),
            ).fetchall()
            for message_id, size in exhausted:
                self._dead_letter(message_id, size, config, now)
            rows = self._conn.execute(
                "SELECT id, body, size, enqueued_at, attempts FROM queue_messages "
                "WHERE queue = ? AND visible_at <= ? ORDER BY visible_at, seq LIMIT ?",
                (self.name, now, config.max_batch_size),
            ).fetchall()
            self._conn.executemany(
                "UPDATE queue_messages SET attempts = attempts + 1, in_flight = 1, visible_at = ? "
                "WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
            count(self.meter, QUEUE_READ, sum(_chunks(row[2]) for row in rows))
            return [
                LeasedMessage(row[0], json.loads(row[1]), row[4] + 1, row[3], until, settle_now=self._settle_now)
                for row in rows
            ]

        return self._transaction(lease)

    @guarded
    async def settle(
        self,
        message_id: str,
        outcome: Outcome,
        *,
        attempts: int | None = None,
        config: QueueConsumerConfig | None = None,
    ) -> bool:
        """Ack or retry one leased message. With ``attempts``, a settle from an
        older delivery (lease expired and redelivered since) is ignored. Returns
        whether the message was settled."""
        now = self._clock()
        return self._transaction(
            lambda: self._settle(message_id, outcome, attempts, config or self._config, now)
        )

    @guarded
    def _settle_now(self, message: LeasedMessage, outcome: Outcome) -> None:
        """``message.ack()`` / ``retry()``: this delivery of it settled now (a stale one is ignored)."""
        now = self._clock()
        config = self._config
        self._transaction(lambda: self._settle(message.id, outcome, message.attempts, config, now))

    @guarded
    async def settle_batch(
        self,
        messages: Iterable[str | LeasedMessage],
        handler_failed: bool,
        outcomes: Mapping[str, Outcome] | None = None,
        *,
        config: QueueConsumerConfig | None = None,
    ) -> None:
        """Settle a delivered batch in one transaction, as Cloudflare does after
        the handler: a message already settled by its own ``ack()`` / ``retry()``
        is left alone; else an explicit outcome wins; every other message is acked
        if the handler returned (``handler_failed=False``) and retried if it raised."""
        explicit = dict(outcomes or {})
        default = Outcome.retry() if handler_failed else Outcome.ack()
        config = config or self._config
        now = self._clock()

        def settle_all() -> None:
            for message in messages:
                if isinstance(message, LeasedMessage):
                    message_id, attempts = message.id, message.attempts
                    if message.settled is not None:
                        explicit.pop(message_id, None)  # its own settlement came first
                        continue
                else:
                    message_id, attempts = message, None
                outcome = explicit.pop(message_id, default)
                self._settle(message_id, outcome, attempts, config, now)
            if explicit:
                log.warning("queue %s: outcomes for messages not in the batch: %s",
                            self.name, sorted(explicit))

        self._transaction(settle_all)

    @guarded
    async def extend_leases(self, messages: Iterable[LeasedMessage]) -> None:
        """Push the leases of messages still being handled ``visibility_timeout`` ahead."""
        until = self._clock() + self.visibility_timeout
        rows = [(until, m.id, m.attempts) for m in messages]
        self._transaction(lambda: self._conn.executemany(
            "UPDATE queue_messages SET visible_at = ? WHERE id = ? AND attempts = ? AND in_flight = 1",
            rows,
        ))

    @guarded
    def redeliver_in_flight(self) -> int:
        """Make every delivered, unsettled message of this queue visible now; returns how many.

        Only for a consumer that knows the process those deliveries belonged to
        is dead (the local runtime at start, holding the data dir's lock):
        they come back at once instead of when their visibility runs out, and
        in their place by the time they were sent (``pull_batch`` takes the
        oldest first), so the work the dead process held is not put behind
        everything sent since. Each keeps its ``attempts``, so one past its
        last delivery is still dead-lettered by ``pull_batch``.
        """
        now = self._clock()

        def release() -> int:
            cursor = self._conn.execute(
                "UPDATE queue_messages SET visible_at = MIN(enqueued_at, ?) "
                "WHERE queue = ? AND in_flight = 1 AND visible_at > ?",
                (now, self.name, now),
            )
            if cursor.rowcount:
                self._pending_wakes.add(self.name)
            return cursor.rowcount

        return self._transaction(release)

    # --- inspection ----------------------------------------------------------

    @guarded
    def ready_count(self, limit: int = 100) -> int:
        """How many messages (at most ``limit``) could be delivered now."""
        with self._lock:
            row = self._conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM queue_messages WHERE queue = ? "
                "AND visible_at <= ? LIMIT ?)",
                (self.name, self._clock(), limit),
            ).fetchone()
        return int(row[0])

    @guarded
    def counts(self) -> dict[str, int]:
        """Messages by state: ``ready``, ``delayed`` (not yet visible), ``in_flight``."""
        now = self._clock()
        with self._lock:
            row = self._conn.execute(
                "SELECT sum(in_flight = 0 AND visible_at <= ?), sum(in_flight = 0 AND visible_at > ?),"
                " sum(in_flight = 1) FROM queue_messages WHERE queue = ?",
                (now, now, self.name),
            ).fetchone()
        return {"ready": row[0] or 0, "delayed": row[1] or 0, "in_flight": row[2] or 0}

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- internals -----------------------------------------------------------

    def _transaction(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` in BEGIN IMMEDIATE .. COMMIT, then wake the queues it fed."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn()
            except BaseException:
                rollback_quietly(self._conn)
                self._pending_wakes.clear()
                raise
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)  # a full disk: nothing was written, and the next BEGIN works
                self._pending_wakes.clear()
                raise
            wakes, self._pending_wakes = self._pending_wakes, set()
        for name in wakes:
            notify(self.db_path, name)
        return result

    def _settle(
        self, message_id: str, outcome: Outcome, attempts: int | None,
        config: QueueConsumerConfig, now: float,
    ) -> bool:
        row = self._conn.execute(
            "SELECT attempts, size FROM queue_messages WHERE id = ? AND queue = ? AND in_flight = 1",
            (message_id, self.name),
        ).fetchone()
        if row is None or (attempts is not None and row[0] != attempts):
            return False
        if outcome.kind == "ack":
            self._conn.execute("DELETE FROM queue_messages WHERE id = ?", (message_id,))
            count(self.meter, QUEUE_DELETE, _chunks(row[1]))
        elif row[0] > config.max_retries:
            self._dead_letter(message_id, row[1], config, now)
        else:
            delay = config.retry_delay if outcome.delay_seconds is None else outcome.delay_seconds
            self._conn.execute(
                "UPDATE queue_messages SET in_flight = 0, visible_at = ? WHERE id = ?",
                (now + delay, message_id),
            )
        return True

    def _dead_letter(self, message_id: str, size: int, config: QueueConsumerConfig, now: float) -> None:
        target = config.dead_letter_queue
        if target is None or target == self.name:
            log.warning("queue %s: message %s exhausted its retries and is dropped",
                        self.name, message_id)
            self._conn.execute("DELETE FROM queue_messages WHERE id = ?", (message_id,))
            count(self.meter, QUEUE_DELETE, _chunks(size))
            return
        self._conn.execute(
            "UPDATE queue_messages SET queue = ?, attempts = 0, in_flight = 0, visible_at = ? "
            "WHERE id = ?",
            (target, now, message_id),
        )
        count(self.meter, QUEUE_WRITE, _chunks(size))
        self._pending_wakes.add(target)
