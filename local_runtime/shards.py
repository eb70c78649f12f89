"""Local Durable Object host: one ``JobShard`` per name over its own SQLite file.

``LocalShardStub`` is what callers hold instead of a Cloudflare stub: every
call's payload and reply pass the same boundary rules as Cloudflare RPC
(plain JSON-like values, size cap), so what fails in production fails here.

Each shard's alarm (``TimerAlarm``) is a timer on the event loop, where
Cloudflare keeps a durable one: a timer dies with the process, so ``resume``
(at start) arms every shard's alarm again from the messages its outbox still
holds (shared/jobs/outbox.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from local_runtime import limits
from local_runtime.bindings.boundary import check_rpc_value
from local_runtime.bindings.meter import DO_REQUESTS, Meter, count
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.supervision import LoopHealth
from shared.config import Settings
from shared.jobs.rpc import JobsClient, ShardService
from shared.jobs.shard import JobShard
from shared.jobs.sharding import all_shards
from shared.logs import JsonLogger
from shared.platform_limits import RPC_MAX_BYTES
from shared.ports import Clock, JsonValue, QueueProducer

ALARM_RETRY_SECONDS = 2.0
"""An alarm whose handler raised rings again this much later (Cloudflare retries from 2 s)."""


class TimerAlarm:
    """``shared.jobs.outbox.Alarm`` on the running event loop: at ``at``, ``ring()`` runs as a task.

    One alarm at a time, as a Durable Object has: ``set`` replaces the one before."""

    def __init__(
        self, ring: Callable[[], Awaitable[Any]], clock: Clock, health: LoopHealth | None = None, name: str = "alarm"
    ) -> None:
        self._ring = ring
        self._clock = clock
        self._health = health
        self._name = name
        self._timer: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.at: float | None = None

    async def set(self, at: float) -> None:
        self._schedule(at)

    def _schedule(self, at: float) -> None:
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self.at = at
        # An alarm is the object's own invocation: it runs in a fresh context, never as part of
        # (and counted against) the api request or consumer batch that happened to set it.
        self._timer = loop.call_later(
            max(0.0, at - self._clock()), self._fire, loop, context=contextvars.Context()
        )

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        self.at = None
        self._task = loop.create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        try:
            await self._ring()
        except Exception as exc:  # noqa: BLE001 - as on Cloudflare: the alarm rings again
            if self._health is not None:
                self._health.failed(self._name, exc, ALARM_RETRY_SECONDS)
            if self._timer is None:
                self._schedule(self._clock() + ALARM_RETRY_SECONDS)
            return
        if self._health is not None:
            self._health.ok(self._name)

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class LocalShardHost:
    """All shard instances of ``TtsJobDurableObject`` in this process.

    ``producers`` are the queues the shards' outboxes send to (keys of
    ``shared.jobs.outbox``: ``jobs``, ``webhooks``)."""

    def __init__(
        self,
        namespace: SqliteDurableObjectNamespace,
        clock: Clock,
        meter: Meter | None = None,
        max_waiters: int = Settings.max_waiters_per_shard,
        *,
        shard_count: int = 1,
        producers: Mapping[str, QueueProducer] | None = None,
        log: JsonLogger | None = None,
        health: LoopHealth | None = None,
    ) -> None:
        self._namespace = namespace
        self._max_waiters = max_waiters
        self._clock = clock
        self._meter = meter
        self._shard_count = shard_count
        self._producers = dict(producers or {})
        self._log = log
        self._health = health
        self._services: dict[str, ShardService] = {}
        self._alarms: dict[str, TimerAlarm] = {}
        self._retries: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def service(self, name: str) -> ShardService:
        service = self._services.get(name)
        if service is None:
            shard = JobShard(self._namespace.get(name), self._clock, shard_count=self._shard_count)
            alarm = TimerAlarm(lambda: self._services[name].alarm(), self._clock, self._health, f"alarm:{name}")
            service = ShardService(
                shard, self._max_waiters, producers=self._producers, alarm=alarm, log=self._log
            )
            self._services[name] = service
            self._alarms[name] = alarm
        return service

    async def resume(self) -> None:
        """Arm every shard's alarm for the messages its outbox holds (the runtime's start).

        A shard its storage cannot open now (a full disk) is reported and tried again
        ``ALARM_RETRY_SECONDS`` later, until it can: the runtime starts all the same."""
        for name in all_shards(self._shard_count):
            await self._resume(name)

    async def _resume(self, name: str) -> None:
        try:
            await self.service(name).outbox.resume()
        except Exception as exc:  # noqa: BLE001 - storage trouble: try again shortly
            if self._health is not None:
                self._health.failed(f"alarm:{name}", exc, ALARM_RETRY_SECONDS)
            loop = asyncio.get_running_loop()
            self._retries.add(
                loop.call_later(ALARM_RETRY_SECONDS, self._retry_resume, loop, name, context=contextvars.Context())
            )
            return
        if self._health is not None:
            self._health.ok(f"alarm:{name}")

    def _retry_resume(self, loop: asyncio.AbstractEventLoop, name: str) -> None:
        task = loop.create_task(self._resume(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_waiters(self) -> int:
        """Shutting down: answer every open wait now, and every later one at once; returns how many."""
        return sum(service.waiters.close() for service in self._services.values())

    async def close(self) -> None:
        """Stop the alarms (the databases are the namespace's to close)."""
        for handle in self._retries:
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        for alarm in self._alarms.values():
            await alarm.close()

    def stub(self, name: str) -> LocalShardStub:
        return LocalShardStub(self, name)

    def client(self, shard_count: int) -> JobsClient:
        return JobsClient(self.stub, shard_count)


class LocalShardStub:
    def __init__(self, host: LocalShardHost, name: str) -> None:
        self._host = host
        self._name = name

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        count(self._host._meter, DO_REQUESTS)
        limits.subrequest()
        sent = check_rpc_value(payload, what=f"{method}() payload", max_bytes=RPC_MAX_BYTES)
        # A Durable Object runs one call at a time; every operation but
        # waitForChange is synchronous, so the event loop gives us exactly
        # that, and a waiting call parks on a future the others resolve.
        reply = await self._host.service(self._name).handle_async(method, sent)
        # Checked, not copied: ShardService builds each reply afresh (model_dump, new dicts)
        # and keeps no reference to it, so the caller's copy is the only one.
        return check_rpc_value(reply, what=f"{method}() reply", max_bytes=RPC_MAX_BYTES, copy=False)
