"""Cloudflare's per-invocation limits, enforced on the local runtime's invocations.

An invocation is what Cloudflare meters one at a time: one HTTP request to
the api, one batch handed to a queue consumer, one cron run of the reaper.
The runtime runs each through ``run()``, which gives it an ``Invocation``
(in a context variable, so the bindings find it without being told) and
ends it the way Cloudflare would when it passes a limit:

| limit (setting) | how it is counted here | what ends the invocation |
| --- | --- | --- |
| wall time, queue consumers only (``CONSUMER_WALL_SECONDS``, 900) | from the handler's start | the handler is cancelled; outcome ``exceededWallTime`` (no exception reaches the code) |
| CPU (the Worker's wrangler ``[limits] cpu_ms``, else 30,000; ``WORKER_CPU_MS`` overrides) | the event-loop thread's CPU time (``time.thread_time``) in each step of the invocation's tasks, child tasks included | after the step that passes it: ``Worker exceeded CPU time limit.``, outcome ``exceededCpu`` |
| subrequests (``WORKER_SUBREQUESTS``, 10,000) | every provider or webhook fetch, R2 operation, queue send and Durable Object call the bindings make | the call past the limit raises ``Too many subrequests by single Worker invocation.`` |
| memory (``WORKER_MEMORY_MB``, 128) | an estimate: the payloads each task of the invocation holds (below) | the payload that passes it raises ``Worker exceeded memory limit.``, outcome ``exceededMemory`` |

The error is ``LimitExceededByInvocation``, a ``BaseException`` as
``CancelledError`` is: the Worker's own ``except Exception`` cannot swallow
the platform ending it (on Cloudflare a subrequest error is an ordinary
exception the code could catch, but every later subrequest fails too, so the
invocation goes no further either). The runner logs it with the limit's name
and settles the batch as Cloudflare does: its unsettled messages are retried,
each delivery counting an attempt; a message already acked or retried
(``message.ack()`` / ``retry()``) stays as it was.

CPU: what runs in the synthesis thread pool (``local_runtime/offload.py``)
is not counted: it stands for a provider's servers, which a Worker calls over
a subrequest. The local bindings' own work (SQLite, the file index) runs on
the loop inside the invocation's steps and is counted: it costs a fraction of
a millisecond a call, a few milliseconds for a batch, against seconds of limit.

Memory: Python cannot measure one invocation's heap while others run beside
it in the same process, and ``tracemalloc`` slows every allocation of the
whole runtime (docs/benchmarks.md measures it). So the estimate counts what
dominates a Worker's memory, the payloads: R2 puts, parts and reads, fetch
request and response bodies, the api's request and response bodies. Each task
of the invocation holds the largest payload it has touched (a task handles
one message of a batch, and frees one chunk's audio before it makes the
next), and the estimate is the sum over its live tasks, times ``COPY_FACTOR``:
on Cloudflare bytes live in the JavaScript heap and in Pyodide's, and are
copied again on the way back out. It leaves out the interpreter's own heap.

``ENFORCE_CLOUDFLARE_LIMITS=0`` turns all of it off; then nothing is
metered at all (no task wrapper, no counting).
"""

from __future__ import annotations

import asyncio
import collections.abc
import contextvars
import time
import weakref
from collections.abc import Coroutine, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from shared import platform_limits
from shared.config import LocalSettings, Settings
from shared.synthesis.budget import AUDIO_COPIES

T = TypeVar("T")

COPY_FACTOR = AUDIO_COPIES
"""Copies of a payload an invocation holds at its peak, as the consumer's memory gate counts them
(``shared.synthesis.budget``): the JavaScript runtime's, Pyodide's, and the one handed back out."""
MB = platform_limits.MB  # WORKER_MEMORY_MB counts MB as Cloudflare does: 1,000,000 bytes

# Cloudflare's words for each limit (Workers Logs, wrangler tail): the error and the invocation's outcome.
CPU_ERROR = "Worker exceeded CPU time limit."
MEMORY_ERROR = "Worker exceeded memory limit."
SUBREQUEST_ERROR = "Too many subrequests by single Worker invocation."
WALL_ERROR = "Worker exceeded its wall time limit (the queue consumer invocation was cancelled)."
# How an HTTP client sees an invocation that ended so (Cloudflare's error pages for non-browser clients).
RESOURCE_LIMITS_PAGE = (503, "error code: 1102")  # CPU or memory: "Worker exceeded resource limits"
EXCEPTION_PAGE = (500, "error code: 1101")  # an exception the Worker did not catch


class LimitExceededByInvocation(BaseException):
    """An invocation passed one of Cloudflare's limits; it ends here."""

    def __init__(self, limit: str, outcome: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit  # the setting that sets it, e.g. WORKER_SUBREQUESTS
        self.outcome = outcome  # Cloudflare's invocation outcome: exceededCpu, exceededMemory, ...
        self.message = message  # Cloudflare's error text

    @property
    def http_page(self) -> tuple[int, str]:
        return EXCEPTION_PAGE if self.outcome == "exception" else RESOURCE_LIMITS_PAGE


@dataclass(frozen=True)
class InvocationLimits:
    """The limits of one kind of invocation; ``enforce`` False: none."""

    enforce: bool
    cpu_ms: int
    subrequests: int
    memory_mb: int
    wall_seconds: float | None = None  # queue consumers only

    @classmethod
    def of(
        cls, settings: Settings, host: LocalSettings, *, cpu_ms: int, queue_consumer: bool = False
    ) -> InvocationLimits:
        """The limits of one Worker's invocations; ``cpu_ms`` is its own (``wrangler_config.worker_cpu_ms``)."""
        return cls(
            enforce=host.enforce_cloudflare_limits,
            cpu_ms=cpu_ms,
            subrequests=host.worker_subrequests,
            memory_mb=settings.worker_memory_mb,
            wall_seconds=float(settings.consumer_wall_seconds) if queue_consumer else None,
        )


class Invocation:
    """One invocation's counts, its tasks, and the first limit it passed."""

    def __init__(self, worker: str, limits: InvocationLimits) -> None:
        self.worker = worker
        self.limits = limits
        self.started = time.monotonic()
        self.subrequests = 0
        self.cpu_seconds = 0.0
        self.peak_bytes = 0  # the memory estimate's peak, COPY_FACTOR included
        self.exceeded: LimitExceededByInvocation | None = None
        self.done = False
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._held: dict[asyncio.Task[Any] | None, int] = {}

    def counts(self) -> dict[str, Any]:
        """What the invocation used, for its log line."""
        return {
            "wallSeconds": round(time.monotonic() - self.started, 3),
            "cpuMs": round(self.cpu_seconds * 1000, 1),
            "subrequests": self.subrequests,
            "memoryEstimateMb": round(self.peak_bytes / MB, 1),
        }

    def fail(self, limit: str, outcome: str, message: str) -> LimitExceededByInvocation:
        """The invocation passed ``limit``: every task of it is cancelled (as Cloudflare ends the isolate's
        work for it), and the error is returned for the caller to raise."""
        if self.exceeded is None:
            self.exceeded = LimitExceededByInvocation(limit, outcome, message)
            asyncio.get_running_loop().call_soon(self._cancel_tasks)
        return self.ended()

    def ended(self) -> LimitExceededByInvocation:
        """A fresh copy of the error that ended it (raised again by whatever of it still runs)."""
        assert self.exceeded is not None
        return LimitExceededByInvocation(self.exceeded.limit, self.exceeded.outcome, self.exceeded.message)

    def _cancel_tasks(self) -> None:
        for task in list(self.tasks):
            task.cancel()

    def subrequest(self) -> None:
        if self.exceeded is not None:
            raise self.ended()
        self.subrequests += 1
        if self.subrequests > self.limits.subrequests:
            raise self.fail("WORKER_SUBREQUESTS", "exception", SUBREQUEST_ERROR)

    def payload(self, nbytes: int) -> None:
        if self.exceeded is not None:
            raise self.ended()
        task = asyncio.current_task()
        if nbytes <= self._held.get(task, 0):
            return
        if task is not None and task not in self._held:
            task.add_done_callback(self._release)
        self._held[task] = nbytes
        estimate = sum(self._held.values()) * COPY_FACTOR
        self.peak_bytes = max(self.peak_bytes, estimate)
        if estimate > self.limits.memory_mb * MB:
            raise self.fail("WORKER_MEMORY_MB", "exceededMemory", MEMORY_ERROR)

    def _release(self, task: asyncio.Task[Any]) -> None:
        self._held.pop(task, None)

    def add_cpu(self, seconds: float) -> None:
        self.cpu_seconds += seconds
        if self.cpu_seconds * 1000 > self.limits.cpu_ms and self.exceeded is None and not self.done:
            self.fail("WORKER_CPU_MS", "exceededCpu", CPU_ERROR)


_current: contextvars.ContextVar[Invocation | None] = contextvars.ContextVar("invocation", default=None)


def current() -> Invocation | None:
    """The invocation the calling code runs in, if any (and enforcement is on)."""
    return _current.get()


def subrequest() -> None:
    """A binding is about to make one subrequest (raises past ``WORKER_SUBREQUESTS``)."""
    invocation = _current.get()
    if invocation is not None:
        invocation.subrequest()


def payload(nbytes: int) -> None:
    """A binding hands over or receives ``nbytes`` of payload (raises past ``WORKER_MEMORY_MB``)."""
    invocation = _current.get()
    if invocation is not None:
        invocation.payload(nbytes)


class _Metered(collections.abc.Coroutine[Any, Any, Any]):
    """A coroutine whose every step adds its event-loop CPU time to an invocation."""

    __slots__ = ("_inner", "_invocation")

    def __init__(self, inner: Coroutine[Any, Any, Any], invocation: Invocation) -> None:
        self._inner = inner
        self._invocation = invocation

    def send(self, value: Any) -> Any:
        began = time.thread_time()
        try:
            return self._inner.send(value)
        finally:
            self._invocation.add_cpu(time.thread_time() - began)

    def throw(self, typ: Any, val: Any = None, tb: Any = None) -> Any:
        error = typ if isinstance(typ, BaseException) else (val if isinstance(val, BaseException) else typ(val))
        began = time.thread_time()
        try:
            return self._inner.throw(error)
        finally:
            self._invocation.add_cpu(time.thread_time() - began)

    def close(self) -> None:
        self._inner.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self

    def __iter__(self) -> _Metered:
        return self

    def __next__(self) -> Any:
        return self.send(None)


def _task_factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    """Tasks made inside an invocation (a batch's messages, gathered) are metered by it too."""
    invocation = _current.get() if "context" not in kwargs else kwargs["context"].get(_current)
    if invocation is None or invocation.done:
        return asyncio.Task(coro, loop=loop, **kwargs)
    if not isinstance(coro, _Metered):
        coro = _Metered(coro, invocation)
    task: asyncio.Task[Any] = asyncio.Task(coro, loop=loop, **kwargs)
    invocation.tasks.add(task)
    return task


async def run(invocation: Invocation, work: Coroutine[Any, Any, T]) -> T:
    """Runs ``work`` as ``invocation``: in its own task, metered, with its wall-time limit.

    Raises ``LimitExceededByInvocation`` when it passed a limit, whatever the
    code did with the error meanwhile (the platform has ended it). With
    enforcement off, ``work`` simply runs.
    """
    if not invocation.limits.enforce:
        return await work
    loop = asyncio.get_running_loop()
    if loop.get_task_factory() is None:
        # Tasks the invocation makes (a batch's messages, gathered) are then its tasks too: metered, and
        # cancelled with it. Outside an invocation the factory makes plain tasks.
        loop.set_task_factory(_task_factory)
    context = contextvars.copy_context()
    context.run(_current.set, invocation)
    task: asyncio.Task[T] = loop.create_task(_Metered(work, invocation), context=context)
    invocation.tasks.add(task)
    timer = None
    wall = invocation.limits.wall_seconds
    if wall is not None:
        timer = loop.call_later(
            wall, invocation.fail, "CONSUMER_WALL_SECONDS", "exceededWallTime", WALL_ERROR
        )
    try:
        result: T = await task
    except BaseException:
        if invocation.exceeded is not None and not _cancelling():
            raise invocation.ended() from None
        raise
    finally:
        if timer is not None:
            timer.cancel()
        invocation.done = True
    if invocation.exceeded is not None:
        raise invocation.ended()
    return result


def _cancelling() -> bool:
    """Whether the task running ``run`` is itself being cancelled (the runtime stopping)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
