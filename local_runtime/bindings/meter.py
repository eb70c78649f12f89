"""Counts billable operations, so local runs can produce cost figures.

Cloudflare bills R2 by operation class, Durable Objects by requests and SQL
rows, Queues by 64 KB operations. Each local binding takes an optional
``Meter`` and counts what the real binding would bill; benchmarks and tests
read ``snapshot()``. Thread-safe because bindings may be called from worker
threads (``asyncio.to_thread``) as well as the event loop.
"""

from __future__ import annotations

import mmap
import os
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
        if n < 0:
            raise ValueError(f"meter count must be >= 0, got {n}")
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


METERED = (
    R2_CLASS_A, R2_CLASS_B, R2_DELETE, DO_REQUESTS, DO_ROWS_READ, DO_ROWS_WRITTEN,
    QUEUE_WRITE, QUEUE_READ, QUEUE_DELETE, WORKER_INVOCATIONS,
)
"""Every count a binding makes: the columns of a ``SharedMeter``."""


class SharedMeter(Meter):
    """One meter for the processes of a split runtime, in a file they all map.

    The file holds one row of 64-bit counters (the ``METERED`` names) per
    process; each process adds only to its own row (``row``), so no lock
    crosses processes, and ``snapshot`` sums the rows: any process reads the
    whole runtime's counts (``/__meter``). ``create`` makes the file (zeroed);
    the others ``open`` it.
    """

    def __init__(self, path: str | os.PathLike[str], row: int, rows: int) -> None:
        super().__init__()
        if not 0 <= row < rows:
            raise ValueError(f"meter row {row} must be 0..{rows - 1}")
        self._file = open(path, "r+b")  # noqa: SIM115 - mapped for the meter's life
        self._map = mmap.mmap(self._file.fileno(), rows * len(METERED) * 8)
        self._cells = memoryview(self._map).cast("q")
        self._rows = rows
        self._own = row * len(METERED)
        self._column = {name: i for i, name in enumerate(METERED)}

    @classmethod
    def create(cls, path: str | os.PathLike[str], rows: int) -> SharedMeter:
        with open(path, "wb") as file:
            file.truncate(rows * len(METERED) * 8)
        return cls(path, 0, rows)

    def add(self, name: str, n: int = 1) -> None:
        column = self._column.get(name)
        if column is None:  # not a binding's count: kept in this process only
            super().add(name, n)
            return
        if n < 0:
            raise ValueError(f"meter count must be >= 0, got {n}")
        with self._lock:
            self._cells[self._own + column] += n

    def get(self, name: str) -> int:
        column = self._column.get(name)
        if column is None:
            return super().get(name)
        width = len(METERED)
        return sum(self._cells[row * width + column] for row in range(self._rows))

    def snapshot(self) -> dict[str, int]:
        counts = {name: total for name in METERED if (total := self.get(name))}
        counts.update(super().snapshot())
        return counts

    def reset(self) -> None:
        """Zero every process's row (a count another process makes meanwhile may be lost)."""
        with self._lock:
            for i in range(len(self._cells)):
                self._cells[i] = 0
        super().reset()

    def close(self) -> None:
        self._cells.release()
        self._map.close()
        self._file.close()
