"""The health of the local runtime's background loops, and the backoff they retry with.

Each loop the runtime runs by itself (a queue runner pulling batches, the
cron loop, a shard's alarm) reports to one ``LoopHealth``: a failure is
logged with the loop's name and the error, the loop sleeps ``Backoff`` and
tries again, and ``GET /healthz`` answers 503 naming every loop that is
failing now (shared/api/app.py). The first success clears it: the loop
recovers by itself once the cause goes away (a freed disk, a released lock),
without a restart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.logs import JsonLogger

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0


@dataclass
class Backoff:
    """Doubling sleeps from ``start`` up to ``limit``; ``reset`` after a success."""

    start: float = BACKOFF_START_SECONDS
    limit: float = BACKOFF_MAX_SECONDS
    failures: int = 0

    def next(self) -> float:
        delay = min(self.limit, self.start * 2.0 ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass
class LoopFailure:
    loop: str
    error: str
    since: float  # unix seconds of the first failure in this run of failures
    failures: int
    retry_in: float

    def to_json(self) -> dict[str, Any]:
        return {"loop": self.loop, "error": self.error, "since": round(self.since, 3), "failures": self.failures,
                "retryInSeconds": round(self.retry_in, 3)}


class LoopHealth:
    """Which background loops are failing now; thread-safe."""

    def __init__(self, log: JsonLogger | None = None) -> None:
        self._log = log
        self._lock = threading.Lock()
        self._failing: dict[str, LoopFailure] = {}

    def failed(self, loop: str, exc: BaseException, retry_in: float) -> None:
        error = f"{type(exc).__name__}: {exc}"[:300]
        with self._lock:
            current = self._failing.get(loop)
            failure = LoopFailure(loop, error, current.since if current else time.time(),
                                  (current.failures if current else 0) + 1, retry_in)
            self._failing[loop] = failure
        if self._log is not None:
            self._log.error("loop_failed", loop=loop, error=error, failures=failure.failures, retryIn=retry_in)

    def ok(self, loop: str) -> None:
        with self._lock:
            failure = self._failing.pop(loop, None)
        if failure is not None and self._log is not None:
            self._log.info("loop_recovered", loop=loop, failures=failure.failures,
                           failingSeconds=round(time.time() - failure.since, 3))

    def failing(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in sorted(self._failing.values(), key=lambda f: f.loop)]
