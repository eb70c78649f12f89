"""Value types and limits of the local queue, shared by ``queue`` and ``queue_runner``.

Kept apart from ``queue`` so the storage code stays short: the consumer's
settings (``QueueConsumerConfig``, with Cloudflare's defaults and ranges),
a consumer's decision per message (``Outcome``), a leased delivery
(``LeasedMessage``), and the in-process wake-up registry that lets ``send``
wake a waiting runner at once instead of at its next poll.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shared.errors import LimitExceededError
from shared.platform_limits import (
    QUEUE_DEFAULT_BATCH_SIZE,
    QUEUE_DEFAULT_BATCH_TIMEOUT_SECONDS,
    QUEUE_DEFAULT_RETRIES,
    QUEUE_MAX_BATCH_SIZE,
    QUEUE_MAX_BATCH_TIMEOUT_SECONDS,
    QUEUE_MAX_CONCURRENCY,
    QUEUE_MAX_DELAY_SECONDS,
    QUEUE_MAX_RETRIES,
)
from shared.ports import IncomingMessage


def check_delay(delay: float, what: str = "delay_seconds") -> float:
    """Validate a delay (0..24 h, as Cloudflare's ``delaySeconds``); return it as float."""
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay):
        raise TypeError(f"{what} must be a number of seconds, got {delay!r}")
    if not 0 <= delay <= QUEUE_MAX_DELAY_SECONDS:
        raise LimitExceededError(f"{what} {delay} must be 0..{QUEUE_MAX_DELAY_SECONDS} seconds")
    return float(delay)


@dataclass(frozen=True)
class Outcome:
    """What a consumer decided for one message: ``Outcome.ack()`` or ``Outcome.retry(delay)``.

    A retry's ``delay_seconds`` of None means the consumer's ``retry_delay``.
    """

    kind: Literal["ack", "retry"]
    delay_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("ack", "retry"):
            raise ValueError(f"outcome must be 'ack' or 'retry', got {self.kind!r}")
        if self.delay_seconds is not None:
            check_delay(self.delay_seconds)

    @classmethod
    def ack(cls) -> Outcome:
        return cls("ack")

    @classmethod
    def retry(cls, delay_seconds: float | None = None) -> Outcome:
        return cls("retry", delay_seconds)


@dataclass(frozen=True)
class QueueConsumerConfig:
    """A consumer's settings, with Cloudflare's defaults and ranges."""

    max_batch_size: int = QUEUE_DEFAULT_BATCH_SIZE
    max_batch_timeout: float = QUEUE_DEFAULT_BATCH_TIMEOUT_SECONDS
    max_retries: int = QUEUE_DEFAULT_RETRIES
    dead_letter_queue: str | None = None
    retry_delay: float = 0
    max_concurrency: int = 1
    """Batches handled at once (wrangler.toml's ``max_concurrency``; Cloudflare, left unset, scales up to 250)."""
    wait_when_idle: bool = False
    """Hold a batch for ``max_batch_timeout`` even when no batch is in progress, as Cloudflare does (the local
    runner otherwise starts an idle consumer's batch at once: ``QUEUE_WAIT_WHEN_IDLE``)."""

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("max_batch_size", self.max_batch_size, 1, QUEUE_MAX_BATCH_SIZE),
            ("max_batch_timeout", self.max_batch_timeout, 0, QUEUE_MAX_BATCH_TIMEOUT_SECONDS),
            ("max_retries", self.max_retries, 0, QUEUE_MAX_RETRIES),
            ("max_concurrency", self.max_concurrency, 1, QUEUE_MAX_CONCURRENCY),
        ):
            if not low <= value <= high:
                raise LimitExceededError(f"{name} {value} must be {low}..{high}")
        check_delay(self.retry_delay, "retry_delay")


@dataclass
class LeasedMessage(IncomingMessage):
    """A delivered message, leased to its consumer until ``lease_until``.

    ``ack()`` / ``retry()`` settle it in the queue's database at once
    (``settle_now``, given by the queue that leased it), as Cloudflare's
    ``message.ack()`` / ``retry()``: a settlement made before the invocation
    raises or is cut off stands, the first call wins, and the batch's end
    leaves it alone (``settled``).
    """

    lease_until: float = 0.0
    settle_now: Callable[[LeasedMessage, Outcome], None] | None = field(default=None, repr=False, compare=False)
    settled: Outcome | None = field(default=None, init=False, compare=False)

    def ack(self) -> None:
        self._settle(Outcome.ack())

    def retry(self, delay_seconds: int | None = None) -> None:
        self._settle(Outcome.retry(delay_seconds))

    def _settle(self, outcome: Outcome) -> None:
        if self.settled is not None:
            return
        if self.settle_now is not None:
            self.settle_now(self, outcome)
        self.settled = outcome


_listeners: dict[tuple[str, str], set[Callable[[], None]]] = {}
_listeners_lock = threading.Lock()


def add_listener(db_path: str | Path, name: str, wake: Callable[[], None]) -> None:
    """Call ``wake()`` whenever a message is sent to queue ``name`` in this process."""
    with _listeners_lock:
        _listeners.setdefault((os.path.realpath(db_path), name), set()).add(wake)


def remove_listener(db_path: str | Path, name: str, wake: Callable[[], None]) -> None:
    with _listeners_lock:
        _listeners.get((os.path.realpath(db_path), name), set()).discard(wake)


def notify(db_path: str, name: str) -> None:
    with _listeners_lock:
        wakes = list(_listeners.get((db_path, name), ()))
    for wake in wakes:
        wake()
