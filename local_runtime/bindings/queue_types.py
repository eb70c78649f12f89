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
from shared.ports import IncomingMessage

MAX_DELAY_SECONDS = 43_200
MAX_SEND_BATCH_MESSAGES = 100
MAX_SEND_BATCH_BYTES = 256_000
BILLING_CHUNK_BYTES = 64_000


def check_delay(delay: float, what: str = "delay_seconds") -> float:
    """Validate a delay (0..12 h, as Cloudflare's ``delaySeconds``); return it as float."""
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay):
        raise TypeError(f"{what} must be a number of seconds, got {delay!r}")
    if not 0 <= delay <= MAX_DELAY_SECONDS:
        raise LimitExceededError(f"{what} {delay} must be 0..{MAX_DELAY_SECONDS} seconds")
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

    max_batch_size: int = 10
    max_batch_timeout: float = 5.0
    max_retries: int = 3
    dead_letter_queue: str | None = None
    retry_delay: float = 0
    max_concurrency: int = 1
    """Batches handled at once (wrangler.toml's ``max_concurrency``; Cloudflare, left unset, scales up to 250)."""

    def __post_init__(self) -> None:
        for name, value, low, high in (
            ("max_batch_size", self.max_batch_size, 1, 100),
            ("max_batch_timeout", self.max_batch_timeout, 0, 60),
            ("max_retries", self.max_retries, 0, 100),
            ("max_concurrency", self.max_concurrency, 1, 250),
        ):
            if not low <= value <= high:
                raise LimitExceededError(f"{name} {value} must be {low}..{high}")
        check_delay(self.retry_delay, "retry_delay")


@dataclass
class LeasedMessage(IncomingMessage):
    """A delivered message, leased to its consumer until ``lease_until``.

    ``ack()`` / ``retry()`` settle it in the queue's database at once
    (``settle_now``, given by the queue that leased it): a settlement made
    before the invocation raises or is cut off stands.
    """

    lease_until: float = 0.0
    settle_now: Callable[[LeasedMessage, Outcome], None] | None = field(default=None, repr=False, compare=False)

    def _settle(self, kind: str, delay_seconds: int | None) -> None:
        outcome = Outcome.ack() if kind == "ack" else Outcome.retry(delay_seconds)
        if self.settle_now is not None:
            self.settle_now(self, outcome)


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
