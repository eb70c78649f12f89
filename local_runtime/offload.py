"""``shared.ports.Offload`` for the local runtime: blocking work on a pool of threads.

The runtime is one process on one event loop. Synthesis by the offline
models (eSpeak NG's C library, LAME's MP3 encoder) is blocking native code
that releases the GIL, so on a thread of this pool it runs on another core
while the loop goes on serving HTTP, the shards and the queues. Pure-Python
work (``tone``'s joins) gains no core but does not stall the loop.

``SYNTHESIS_THREADS`` sizes the pool (0: one thread per core). The work
runs in a copy of the caller's context (``contextvars``), as
``asyncio.to_thread`` does. A caller that is cancelled stops waiting; the
thread finishes what it started.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def pool_size(setting: int) -> int:
    """``SYNTHESIS_THREADS``, 0 meaning one thread per core."""
    return setting if setting > 0 else (os.cpu_count() or 1)


class ThreadOffload:
    """Runs ``fn(*args)`` on one of ``threads`` worker threads."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="synthesis")

    async def __call__(self, fn: Callable[..., T], /, *args: Any) -> T:
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        """Waits for the work in progress; work not yet started is dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)
