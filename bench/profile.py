"""Where the runtime's CPU goes during a bench run: py-spy samples of the runtime process, summarised.

``Recorder(pid)`` runs ``py-spy record --format raw`` (folded stacks: one
line per distinct stack, ``frame;frame;... count``) on the runtime process
and its children while the benchmark's load runs; ``summarise`` counts each
sample once, under the first bucket (``BUCKETS``, in order) that any frame
of its stack matches, and the leaf functions with the most samples. Idle
time is not sampled (py-spy's default), so the shares are of busy CPU.

py-spy comes from PyPI (``pip install py-spy``); without it the bench says
so and profiles nothing.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

BUCKETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("synthesis", ("shared/synthesis/",)),
    ("R2 put (local bucket: file, fsync, index)", ("local_runtime/bindings/r2",)),
    ("queue (local: SQLite, runner)", ("local_runtime/bindings/queue",)),
    ("Durable Object SQL (shard transactions)", ("local_runtime/bindings/sql.py", "shared/jobs/shard.py",
                                                 "shared/jobs/outbox.py", "shared/jobs/state.py")),
    ("shard RPC boundary (JSON, checks, pydantic)", ("shared/jobs/rpc", "shared/jobs/client.py",
                                                     "local_runtime/bindings/boundary.py", "local_runtime/shards.py",
                                                     "pydantic")),
    ("HTTP server (uvicorn, its parser, server glue)", ("uvicorn/", "h11/", "httptools/", "local_runtime/server.py",
                                                      "local_runtime/connection_guard.py")),
    ("api handlers", ("shared/api/",)),
    ("consumer", ("shared/consumer.py",)),
    ("logs", ("shared/logs.py",)),
    ("asyncio and selectors", ("asyncio/", "selectors.py")),
)


def py_spy() -> str | None:
    """The py-spy executable: beside this Python's, or on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


class Recorder:
    """``with Recorder(pid, out):`` samples ``pid`` (and its children) into ``out`` while the block runs."""

    def __init__(self, pid: int, out: Path, rate: int = 100) -> None:
        self.pid, self.out, self.rate = pid, out, rate
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Recorder:
        exe = py_spy()
        if exe is None:
            raise RuntimeError("py-spy is not installed (pip install py-spy)")
        self.process = subprocess.Popen(
            [exe, "record", "--format", "raw", "--rate", str(self.rate), "--subprocesses", "--nonblocking",
             "--pid", str(self.pid), "-o", str(self.out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGINT)  # py-spy writes its file on SIGINT
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _bucket(stack: str) -> str:
    for name, needles in BUCKETS:
        if any(needle in stack for needle in needles):
            return name
    return "other"


def summarise(folded: str, top: int = 12) -> dict[str, Any]:
    """Samples per bucket and per leaf function, from py-spy's raw (folded) output."""
    buckets: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in folded.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        buckets[_bucket(stack)] += n
        leaf = stack.rsplit(";", 1)[-1]
        leaves[_short(leaf)] += n
    return {"samples": total, "buckets": dict(buckets.most_common()), "leaves": leaves.most_common(top)}


def _short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: lines merged, paths shortened to the package."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    for anchor in ("site-packages", "python3.11", "python3.12", "python3.13"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    else:
        parts = parts[-2:]
    return f"{name} ({'/'.join(parts)})"
