"""Local Durable Object host: one ``JobShard`` per name over its own SQLite file.

``LocalShardStub`` is what callers hold instead of a Cloudflare stub: every
call's payload and reply pass the same boundary rules as Cloudflare RPC
(plain JSON-like values, size cap), so what fails in production fails here.
"""

from __future__ import annotations

from typing import Any

from local_runtime import limits
from local_runtime.bindings.boundary import check_rpc_value
from local_runtime.bindings.meter import Meter, count
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from shared.config import Settings
from shared.jobs.rpc import JobsClient, ShardService
from shared.jobs.shard import JobShard
from shared.platform_limits import RPC_MAX_BYTES
from shared.ports import Clock, JsonValue


class LocalShardHost:
    """All shard instances of ``TtsJobDurableObject`` in this process."""

    def __init__(
        self,
        namespace: SqliteDurableObjectNamespace,
        clock: Clock,
        meter: Meter | None = None,
        max_waiters: int = Settings.max_waiters_per_shard,
    ) -> None:
        self._namespace = namespace
        self._max_waiters = max_waiters
        self._clock = clock
        self._meter = meter
        self._services: dict[str, ShardService] = {}

    def service(self, name: str) -> ShardService:
        service = self._services.get(name)
        if service is None:
            service = ShardService(JobShard(self._namespace.get(name), self._clock), self._max_waiters)
            self._services[name] = service
        return service

    def stub(self, name: str) -> LocalShardStub:
        return LocalShardStub(self, name)

    def client(self, shard_count: int) -> JobsClient:
        return JobsClient(self.stub, shard_count)


class LocalShardStub:
    def __init__(self, host: LocalShardHost, name: str) -> None:
        self._host = host
        self._name = name

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        count(self._host._meter, "do.requests")
        limits.subrequest()
        sent = check_rpc_value(payload, what=f"{method}() payload", max_bytes=RPC_MAX_BYTES)
        # A Durable Object runs one call at a time; every operation but
        # waitForChange is synchronous, so the event loop gives us exactly
        # that, and a waiting call parks on a future the others resolve.
        reply = await self._host.service(self._name).handle_async(method, sent)
        # Checked, not copied: ShardService builds each reply afresh (model_dump, new dicts)
        # and keeps no reference to it, so the caller's copy is the only one.
        return check_rpc_value(reply, what=f"{method}() reply", max_bytes=RPC_MAX_BYTES, copy=False)
