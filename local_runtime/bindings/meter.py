"""Counts billable operations, so local runs can produce cost figures.

Cloudflare bills R2 by operation class, Durable Objects by requests and SQL
rows, Queues by 64 KB operations. Each local binding takes an optional
``Meter`` and counts what the real binding would bill; benchmarks and tests
read ``snapshot()``. Thread-safe because bindings may be called from worker
threads (``asyncio.to_thread``) as well as the event loop.
"""

from __future__ import annotations

import threading

R2_CLASS_A = "r2.class_a"
"""put, list (and multipart operations): $4.50 per million."""
R2_CLASS_B = "r2.class_b"
"""get, head: $0.36 per million."""
R2_DELETE = "r2.delete"
"""delete calls: free, counted separately."""
DO_REQUESTS = "do.requests"
"""Durable Object requests (RPC calls); counted by whoever makes the call."""
DO_ROWS_READ = "do.rows_read"
DO_ROWS_WRITTEN = "do.rows_written"
QUEUE_WRITE = "queue.write"
QUEUE_READ = "queue.read"
QUEUE_DELETE = "queue.delete"
"""Queue operations, one per 64 KB chunk of a message: write, read (each delivery), delete."""
WORKER_INVOCATIONS = "worker.invocations"


class Meter:
    """A thread-safe counter of operations by name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, name: str, n: int = 1) -> None:
        """Count ``n`` more operations named ``name`` (``n`` may be 0)."""
        if n <= 0:
            if n < 0:
                raise ValueError(f"meter count must be >= 0, got {n}")
            self._counts.setdefault(name, 0)  # atomic on its own: no lock for the many zero counts
            return
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def get(self, name: str) -> int:
        """The count for ``name`` (0 if never counted)."""
        with self._lock:
            return self._counts.get(name, 0)

    def snapshot(self) -> dict[str, int]:
        """A copy of all counts, safe to keep while counting goes on."""
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        """Forget all counts."""
        with self._lock:
            self._counts.clear()


def count(meter: Meter | None, name: str, n: int = 1) -> None:
    """Add to ``meter`` if there is one; bindings use this so a meter stays optional."""
    if meter is not None:
        meter.add(name, n)

