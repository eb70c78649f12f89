"""The caller's side of the shard RPC: ``JobsClient.call`` sends one operation to its object.

An operation (shared/jobs/rpc_payloads.py) names where it goes (a job's
shard; a tenant's lexicon object) or the caller names the shard; its reply
decodes by the operation's reply kind, and an error value (``{"ok": false,
"error": {...}}``, shared/jobs/rpc.py) becomes its ``shared.errors``
exception again (``shard_error``). The few helpers below spread one request
over several shards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TypeVar

from shared.errors import BoundaryError, shard_error
from shared.jobs.rpc_payloads import Call
from shared.jobs.shard import CountActive, Delete, Lookup
from shared.jobs.sharding import all_shards, shard_for
from shared.models import JobRecord
from shared.ports import ShardResolver

R = TypeVar("R")


class JobsClient:
    """The caller's side: routes each operation to its object's stub."""

    def __init__(self, resolver: ShardResolver, shard_count: int) -> None:
        self._resolver = resolver
        self.shard_count = shard_count

    def shard_of(self, job_id: str) -> str:
        return shard_for(job_id, self.shard_count)

    def shards(self) -> list[str]:
        return all_shards(self.shard_count)

    async def call(self, operation: Call[R], *, shard: str | None = None) -> R:
        """Send ``operation`` to ``shard`` (default: the object the operation names) and decode its reply."""
        name = shard or operation.destination(self.shard_of)
        if name is None:
            raise ValueError(f"{operation.rpc} names no shard: pass shard=")
        reply = await self._resolver(name).call(operation.rpc, operation.wire())
        if not isinstance(reply, dict) or "ok" not in reply:
            raise BoundaryError(f"shard {name} returned an unexpected reply to {operation.rpc}")
        if not reply["ok"]:
            error = reply.get("error")
            raise shard_error(error if isinstance(error, dict) else {})
        return operation.decode(reply.get("result"))

    # --- one request over several shards -------------------------------------------------

    async def delete(self, job_ids: Sequence[str], *, shard: str | None = None) -> int:
        """Delete rows; ids are grouped by shard unless ``shard`` is given."""
        total = 0
        for name, ids in self._by_shard(job_ids, shard).items():
            total += await self.call(Delete(job_ids=ids), shard=name)
        return total

    async def lookup(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        found: dict[str, JobRecord] = {}
        for name, ids in self._by_shard(job_ids).items():
            for record in await self.call(Lookup(job_ids=ids), shard=name):
                found[record.job_id] = record
        return found

    async def count_active(self, tenant: str, shards: Sequence[str] | None = None) -> int:
        """The tenant's jobs queued or processing on ``shards`` (default: every shard)."""
        names = self.shards() if shards is None else shards
        counts = await asyncio.gather(*(self.call(CountActive(tenant=tenant), shard=s) for s in names))
        return sum(counts)

    def _by_shard(self, job_ids: Sequence[str], shard: str | None = None) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for job_id in job_ids:
            groups.setdefault(shard or self.shard_of(job_id), []).append(job_id)
        return groups

