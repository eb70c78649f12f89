"""Drives a queue consumer locally, as Cloudflare invokes a consumer Worker.

When the consumer is idle (no batch of it in progress) the runner leases
what is ready, up to ``max_batch_size``, at once: a lone message is not held
back for a fuller batch that nothing is waiting on. While a batch is in
progress (``max_concurrency`` > 1 lets more start), a new batch waits until
``max_batch_size`` messages are ready, ``max_batch_timeout`` has passed since
it first saw a ready message, or the consumer becomes idle, whichever is
first; so under load batches fill as on Cloudflare. With ``wait_when_idle``
(``QUEUE_WAIT_WHEN_IDLE=1``) it always waits as Cloudflare's queues do,
idle or not. It calls the handler and settles the batch with Cloudflare's
rule (an explicit outcome wins; the rest are acked if the handler returned,
retried if it raised). It sleeps on an ``asyncio.Event`` that ``send`` in
this process and the end of a batch set, plus a short poll for delayed
messages and for messages sent by other processes; it never busy-spins.

While the handler runs, the runner keeps extending the batch's leases, so a
slow handler is not raced by a redelivery; if the process dies, the leases
simply run out and the messages come back.

A storage error while it waits for or pulls a batch (a locked queue
database, a full disk) never ends the loop: it is logged and reported to
the runtime's ``LoopHealth`` (``/healthz`` answers 503 meanwhile), and the
pull is tried again after a growing pause until it succeeds.

The handler gets the handler's view of a delivery (``IncomingMessage``, here
``LeasedMessage``) and settles each message by calling its ``ack()`` or
``retry()`` (at once, in the queue's database) or by returning
``{message_id: Outcome}`` (or None). If it raises, its return value is lost:
every message it did not settle itself is retried.

Each batch is one invocation (``local_runtime.limits``): with
``invocation_limits`` it runs under Cloudflare's wall-time, CPU, subrequest
and memory limits, and one that passes a limit ends there, is logged with the
limit's name (``limit_exceeded``), and its unsettled messages are retried,
each delivery counting an attempt, as Cloudflare does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from local_runtime import limits
from shared.logs import JsonLogger
from shared.ports import IncomingMessage

from local_runtime.supervision import Backoff, LoopHealth

from .meter import WORKER_INVOCATIONS, count
from .queue import LeasedMessage, LocalQueue, Outcome, QueueConsumerConfig, add_listener, remove_listener

log = logging.getLogger(__name__)

Handler = Callable[[list[IncomingMessage]], Coroutine[Any, Any, Mapping[str, Outcome] | None]]


class LocalQueueRunner:
    """Delivers batches from ``queue`` to ``handler`` until ``stop()``."""

    def __init__(
        self,
        queue: LocalQueue,
        handler: Handler,
        config: QueueConsumerConfig | None = None,
        *,
        poll_interval: float = 0.2,
        health: LoopHealth | None = None,
        invocation_limits: limits.InvocationLimits | None = None,
        log: JsonLogger | None = None,
        worker: str = "synth_consumer",
    ) -> None:
        self.queue = queue
        self.health = health
        self.handler = handler
        self.config = config or QueueConsumerConfig()
        self.poll_interval = poll_interval
        self.invocation_limits = invocation_limits
        self.log = log
        self.worker = worker
        self.batches = 0
        """How many batches were handed to the handler."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> asyncio.Task[None]:
        """Start the loop as a task on the running event loop."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self.run())
        return self._task

    async def stop(self) -> None:
        """Stop waiting for messages, let the batches in progress finish, and return."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def run(self) -> None:
        """The loop itself; ``start()`` runs it as a task."""
        self._loop = asyncio.get_running_loop()
        add_listener(self.queue.db_path, self.queue.name, self.wake)
        in_flight: set[asyncio.Task[None]] = set()
        backoff = Backoff()
        loop_name = f"queue:{self.queue.name}"
        try:
            while not self._stopping:
                if len(in_flight) >= self.config.max_concurrency:
                    # As many invocations as allowed are running: the next batch waits for one to end.
                    await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                try:
                    if not await self._wait_for_batch(lambda: bool(in_flight)):
                        break
                    batch = await self.queue.pull_batch(self.config)
                except Exception as exc:  # storage trouble: report it, pause, try again
                    delay = backoff.next()
                    if self.health is not None:
                        self.health.failed(loop_name, exc, delay)
                    else:
                        log.warning("queue %s: pulling a batch failed (%r); retrying in %.1f s",
                                    self.queue.name, exc, delay)
                    await self._sleep(delay)
                    continue
                if backoff.failures:
                    backoff.reset()
                    if self.health is not None:
                        self.health.ok(loop_name)
                if not batch:
                    continue
                if self.config.max_concurrency == 1:
                    await self._deliver(batch)
                    continue
                task = asyncio.get_running_loop().create_task(self._deliver(batch))
                in_flight.add(task)
                task.add_done_callback(self._batch_done(in_flight))
        finally:
            if in_flight:  # stopping: the batches in progress finish and are settled
                await asyncio.gather(*in_flight, return_exceptions=True)
            remove_listener(self.queue.db_path, self.queue.name, self.wake)

    def wake(self) -> None:
        """Look for ready messages now (thread-safe): a send in this process calls it."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def _batch_done(self, in_flight: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        """A batch's done callback: forget it, and wake a wait that may now start at once (idle)."""

        def done(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            self._wake.set()

        return done

    async def _sleep(self, seconds: float) -> None:
        """Sleep up to ``seconds``, or less if woken by a send or ``stop()``."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(seconds, 0))

    def _ready(self) -> int:
        self._wake.clear()  # cleared before counting, so a send after the count wakes us
        return self.queue.ready_count(self.config.max_batch_size)

    async def _wait_for_batch(self, busy: Callable[[], bool]) -> bool:
        """Wait for a ready message, then (while ``busy()``, or always with ``wait_when_idle``) for a full
        batch or the batch timeout; False if stopping."""
        loop = asyncio.get_running_loop()
        ready = self._ready()
        while ready == 0:
            await self._sleep(self.poll_interval)
            if self._stopping:
                return False
            ready = self._ready()
        deadline = loop.time() + self.config.max_batch_timeout
        while ready < self.config.max_batch_size:
            if not self.config.wait_when_idle and not busy():
                break  # idle: nothing to fill a batch for
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            await self._sleep(min(self.poll_interval, remaining))
            if self._stopping:
                return False
            ready = self._ready()
        return True

    async def _deliver(self, batch: list[LeasedMessage]) -> None:
        self.batches += 1
        count(self.queue.meter, WORKER_INVOCATIONS)
        keeper = asyncio.get_running_loop().create_task(self._keep_leases(batch))
        invocation = None
        if self.invocation_limits is not None:
            invocation = limits.Invocation(self.worker, self.invocation_limits)
        try:
            if invocation is None:
                outcomes = await self.handler(list(batch))
            else:
                outcomes = await limits.run(invocation, self.handler(list(batch)))
            failed = False
        except limits.LimitExceededByInvocation as exc:
            self._log_limit(exc, invocation, batch)
            outcomes, failed = None, True
        except Exception:
            log.exception("queue %s: consumer handler raised; retrying the batch", self.queue.name)
            outcomes, failed = None, True
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await self.queue.settle_batch(batch, failed, outcomes, config=self.config)

    def _log_limit(
        self, exc: limits.LimitExceededByInvocation, invocation: limits.Invocation | None, batch: list[LeasedMessage]
    ) -> None:
        fields = {
            "limit": exc.limit, "outcome": exc.outcome, "error": exc.message, "queue": self.queue.name,
            "messages": len(batch), "unsettled": sum(1 for m in batch if m.settled is None),
            **(invocation.counts() if invocation is not None else {}),
        }
        if self.log is not None:
            self.log.error("limit_exceeded", **fields)
        else:
            log.error("queue %s: invocation ended at a limit: %s", self.queue.name, fields)

    async def _keep_leases(self, batch: list[LeasedMessage]) -> None:
        while True:
            await asyncio.sleep(self.queue.visibility_timeout / 3)
            await self.queue.extend_leases(batch)
