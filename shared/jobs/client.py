"""The caller's side of the shard RPC: routes each job to its shard's stub.

Error values (``{"ok": false, "error": {...}}``, shared/jobs/rpc.py) become
``shared.errors`` exceptions again here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from shared.errors import (
    BoundaryError,
    IllegalTransitionError,
    JobNotFoundError,
    LeaseHeldError,
    ShardFullError,
    StorageUnavailableError,
)
from shared.jobs.lexicons import LexiconLimitError, lexicon_object_name
from shared.jobs.sharding import all_shards, shard_for
from shared.models import JobRecord, JobStatus
from shared.ports import JsonValue, ShardResolver


def _raise(error: dict[str, Any]) -> None:
    code = error.get("code")
    job_id = str(error.get("jobId", ""))
    if code == "not_found":
        raise JobNotFoundError(job_id)
    if code == "illegal_transition":
        raise IllegalTransitionError(job_id, str(error.get("current")), str(error.get("target")))
    if code == "lease_held":
        holder = error.get("holder")
        raise LeaseHeldError(job_id, float(error.get("leaseUntil") or 0), str(holder) if holder is not None else None)
    if code == "shard_full":
        raise ShardFullError(int(error.get("active") or 0), int(error.get("budget") or 0))
    if code == "storage_unavailable":
        raise StorageUnavailableError(str(error.get("condition")), str(error.get("message") or ""))
    if code == "lexicon_limit":
        retry = error.get("retryAfter")
        raise LexiconLimitError(str(error.get("reason")), str(error.get("message")), float(retry) if retry else None)
    raise BoundaryError(f"shard RPC refused the call: {error}")


class JobsClient:
    """The caller's side: routes each job id to its shard's stub."""

    def __init__(self, resolver: ShardResolver, shard_count: int) -> None:
        self._resolver = resolver
        self.shard_count = shard_count

    def shard_of(self, job_id: str) -> str:
        return shard_for(job_id, self.shard_count)

    def shards(self) -> list[str]:
        return all_shards(self.shard_count)

    async def _call(self, shard: str, method: str, payload: dict[str, JsonValue]) -> Any:
        reply = await self._resolver(shard).call(method, payload)
        if not isinstance(reply, dict) or "ok" not in reply:
            raise BoundaryError(f"shard {shard} returned an unexpected reply to {method}")
        if not reply["ok"]:
            _raise(reply.get("error") or {})
        return reply.get("result")

    async def _job(self, method: str, job_id: str, **extra: JsonValue) -> JobRecord:
        data = await self._call(self.shard_of(job_id), method, {"jobId": job_id, **extra})
        return JobRecord.model_validate(data)

    async def create(self, record: JobRecord) -> JobRecord:
        data = await self._call(self.shard_of(record.job_id), "create", {"record": record.to_rpc()})
        return JobRecord.model_validate(data)

    async def create_within_budget(self, record: JobRecord, budget: int) -> JobRecord:
        """``create``, refused with ``ShardFullError`` when the tenant has ``budget`` or more jobs
        queued or processing on the job's shard (one request, one transaction)."""
        payload: dict[str, JsonValue] = {"record": record.to_rpc(), "budget": budget}
        data = await self._call(self.shard_of(record.job_id), "createWithinBudget", payload)
        return JobRecord.model_validate(data)

    async def get(self, job_id: str, *, with_text: bool = False) -> JobRecord | None:
        data = await self._call(self.shard_of(job_id), "get", {"jobId": job_id, "withText": with_text})
        return JobRecord.model_validate(data) if data is not None else None

    async def claim(self, job_id: str, lease_seconds: float, holder: str | None = None) -> JobRecord:
        """Take the job under a lease held by ``holder`` (the delivering queue message's id)."""
        return await self._job("claim", job_id, leaseSeconds=lease_seconds, holder=holder)

    async def renew_lease(self, job_id: str, holder: str, lease_seconds: float) -> JobRecord:
        """Heartbeat: renew ``holder``'s lease; raises ``LeaseHeldError`` if another delivery took it."""
        return await self._job("renewLease", job_id, holder=holder, leaseSeconds=lease_seconds)

    async def complete(
        self, job_id: str, *, audio_key: str, mime_type: str, size_bytes: int, etag: str, characters: int,
        cache: tuple[int, int, int] | None = None,
    ) -> JobRecord:
        """``cache``: (chunks reused, chunks in all, characters saved) when the job used the synthesis cache."""
        extra: dict[str, JsonValue] = {}
        if cache is not None:
            extra["cache"] = {"reused": cache[0], "total": cache[1], "savedChars": cache[2]}
        return await self._job(
            "complete",
            job_id,
            audioKey=audio_key,
            mimeType=mime_type,
            sizeBytes=size_bytes,
            etag=etag,
            characters=characters,
            **extra,
        )

    async def progress(
        self, job_id: str, *, done: int, total: int, characters: int, lease_seconds: float | None = None
    ) -> JobRecord:
        """Record chunk progress of a processing job (renewing its lease); returns the job as it now is."""
        return await self._job(
            "progress", job_id, done=done, total=total, characters=characters, leaseSeconds=lease_seconds
        )

    async def release(self, job_id: str, error: str) -> JobRecord:
        return await self._job("release", job_id, error=error)

    async def fail(self, job_id: str, error: str) -> JobRecord:
        return await self._job("fail", job_id, error=error)

    async def cancel(self, job_id: str) -> JobRecord:
        return await self._job("cancel", job_id)

    async def delete(self, job_ids: Sequence[str], *, shard: str | None = None) -> int:
        """Delete rows; ids are grouped by shard unless ``shard`` is given."""
        groups: dict[str, list[str]] = {}
        for job_id in job_ids:
            groups.setdefault(shard or self.shard_of(job_id), []).append(job_id)
        total = 0
        for name, ids in groups.items():
            total += int(await self._call(name, "delete", {"jobIds": ids}))
        return total

    async def list_shard(
        self, shard: str, tenant: str, limit: int, before: tuple[float, str] | None
    ) -> list[JobRecord]:
        payload: dict[str, JsonValue] = {"tenant": tenant, "limit": limit, "before": list(before) if before else None}
        rows = await self._call(shard, "list", payload)
        return [JobRecord.model_validate(r) for r in rows]

    async def count_active(self, tenant: str, shards: Sequence[str] | None = None) -> int:
        """The tenant's jobs queued or processing on ``shards`` (default: every shard)."""
        names = self.shards() if shards is None else shards
        counts = await asyncio.gather(*(self._call(s, "countActive", {"tenant": tenant}) for s in names))
        return sum(int(n) for n in counts)

    async def find_idempotent(self, shard: str, tenant: str, idempotency_key: str) -> JobRecord | None:
        data = await self._call(shard, "findIdempotent", {"tenant": tenant, "idempotencyKey": idempotency_key})
        return JobRecord.model_validate(data) if data is not None else None

    async def mark_webhook(self, job_id: str) -> JobRecord:
        return await self._job("markWebhook", job_id)

    async def record_webhook(
        self, job_id: str, *, status: str, attempts: int, last_status: int | None, last_error: str | None
    ) -> JobRecord:
        return await self._job(
            "recordWebhook", job_id, status=status, attempts=attempts, lastStatus=last_status, lastError=last_error
        )

    async def expired(
        self, shard: str, now: float, limit: int, after: tuple[float, str] | None = None
    ) -> list[JobRecord]:
        payload: dict[str, JsonValue] = {"now": now, "limit": limit, "after": list(after) if after else None}
        rows = await self._call(shard, "expired", payload)
        return [JobRecord.model_validate(r) for r in rows]

    async def stale(
        self,
        shard: str,
        status: JobStatus,
        updated_before: float,
        limit: int,
        after: tuple[float, str] | None = None,
    ) -> list[JobRecord]:
        payload: dict[str, JsonValue] = {
            "status": status.value,
            "updatedBefore": updated_before,
            "limit": limit,
            "after": list(after) if after else None,
        }
        rows = await self._call(shard, "stale", payload)
        return [JobRecord.model_validate(r) for r in rows]

    async def repair(self, shard: str, items: Sequence[dict[str, JsonValue]]) -> list[JobRecord]:
        """Apply up to 100 ``{jobId, expectedUpdatedAt, action, error}`` repairs on
        one shard; returns the records that were changed (the rest had moved on)."""
        rows = await self._call(shard, "repair", {"items": list(items)})
        return [JobRecord.model_validate(r) for r in rows]

    async def reaper_lease(
        self, shard: str, name: str, holder: str, now: float, until: float, *, peek: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, JsonValue] = {"name": name, "holder": holder, "now": now, "until": until, "peek": peek}
        result = await self._call(shard, "reaperLease", payload)
        if not isinstance(result, dict):
            raise BoundaryError(f"shard {shard} returned an unexpected reaperLease reply")
        return result

    async def reaper_save(
        self, shard: str, name: str, holder: str, until: float, state: dict[str, JsonValue] | None
    ) -> bool:
        payload: dict[str, JsonValue] = {"name": name, "holder": holder, "until": until, "state": state}
        return bool(await self._call(shard, "reaperSave", payload))

    async def wait_for_change(
        self,
        job_id: str,
        timeout: float,
        *,
        since_status: JobStatus | None = None,
        since_done: int | None = None,
        until_terminal: bool = False,
        with_progress: bool = False,
        tenant: str | None = None,
    ) -> tuple[JobRecord | None, str]:
        """One ``waitForChange`` call: the job once it changed (or at ``timeout``) and the
        outcome, ``changed`` / ``timeout`` / ``busy`` (no waiting place for the job's tenant
        on its shard) / ``shutdown``. With ``tenant``, another tenant's job is None at once."""
        payload: dict[str, JsonValue] = {
            "jobId": job_id,
            "timeout": timeout,
            "sinceStatus": since_status.value if since_status is not None else None,
            "sinceDone": since_done,
            "untilTerminal": until_terminal,
            "withProgress": with_progress,
            "tenant": tenant,
        }
        result = await self._call(self.shard_of(job_id), "waitForChange", payload)
        if not isinstance(result, dict):
            raise BoundaryError(f"shard returned an unexpected waitForChange reply for {job_id}")
        job = result.get("job")
        return (JobRecord.model_validate(job) if job is not None else None), str(result.get("outcome"))

    async def lookup(self, job_ids: Sequence[str]) -> dict[str, JobRecord]:
        groups: dict[str, list[str]] = {}
        for job_id in job_ids:
            groups.setdefault(self.shard_of(job_id), []).append(job_id)
        found: dict[str, JobRecord] = {}
        for name, ids in groups.items():
            for row in await self._call(name, "lookup", {"jobIds": ids}):
                record = JobRecord.model_validate(row)
                found[record.job_id] = record
        return found

    # --- the chunk ledger of a fanned-out job (shared/jobs/chunks.py) ---

    async def plan_chunks(
        self, job_id: str, *, plan: str, total: int, holder: str, stored: Sequence[int], lease_seconds: float
    ) -> tuple[JobRecord, list[int]]:
        """Write a job's chunk plan (``holder`` holds its claim); returns the job and the chunks not yet stored."""
        data = await self._call(
            self.shard_of(job_id), "chunkPlan",
            {"jobId": job_id, "plan": plan, "total": total, "holder": holder, "stored": list(stored),
             "leaseSeconds": lease_seconds},
        )
        return JobRecord.model_validate(data["record"]), [int(i) for i in data["pending"]]

    async def claim_chunk(
        self, job_id: str, *, plan: str, index: int, holder: str, lease_seconds: float, job_lease_seconds: float,
        renew: bool = False,
    ) -> dict[str, Any]:
        """``{"state": claimed|done|held|stopped|lost, ...}`` for chunk ``index``."""
        return dict(await self._call(
            self.shard_of(job_id), "chunkClaim",
            {"jobId": job_id, "plan": plan, "index": index, "holder": holder, "leaseSeconds": lease_seconds,
             "jobLeaseSeconds": job_lease_seconds, "renew": renew},
        ))

    async def chunk_stored(
        self, job_id: str, *, plan: str, index: int, characters: int, job_lease_seconds: float
    ) -> dict[str, Any]:
        """``{"state": stored|duplicate|stopped, "done", "total"}`` once chunk ``index`` is in R2."""
        return dict(await self._call(
            self.shard_of(job_id), "chunkStored",
            {"jobId": job_id, "plan": plan, "index": index, "characters": characters,
             "jobLeaseSeconds": job_lease_seconds},
        ))

    async def release_chunk(self, job_id: str, *, plan: str, index: int, holder: str, error: str | None) -> None:
        await self._call(
            self.shard_of(job_id), "chunkRelease",
            {"jobId": job_id, "plan": plan, "index": index, "holder": holder, "error": error},
        )

    async def chunk_info(self, job_id: str, index: int) -> dict[str, Any] | None:
        data = await self._call(self.shard_of(job_id), "chunkInfo", {"jobId": job_id, "index": index})
        return dict(data) if data is not None else None
    # --- a tenant's lexicons (shared/jobs/lexicons.py), in the tenant's own object ------------

    async def _lexicons(self, method: str, tenant: str, **payload: JsonValue) -> Any:
        return await self._call(lexicon_object_name(tenant), method, {"tenant": tenant, **payload})

    async def put_lexicon(self, tenant: str, name: str, **fields: JsonValue) -> dict[str, Any]:
        """Store a lexicon version as ``name``'s current one: ``{"lexicon": view, "created": bool}``;
        ``LexiconLimitError`` past the tenant's limits."""
        result: dict[str, Any] = await self._lexicons("lexiconPut", tenant, name=name, **fields)
        return result

    async def get_lexicon(self, tenant: str, name: str) -> dict[str, Any] | None:
        result: dict[str, Any] | None = await self._lexicons("lexiconGet", tenant, name=name)
        return result

    async def list_lexicons(self, tenant: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._lexicons("lexiconList", tenant)
        return result

    async def delete_lexicon(self, tenant: str, name: str, *, now: float, keep_seconds: float) -> bool:
        return bool(await self._lexicons("lexiconDelete", tenant, name=name, now=now, keepSeconds=keep_seconds))

    async def resolve_lexicons(self, tenant: str, names: Sequence[str]) -> dict[str, Any]:
        """The current version and rules of each name: ``{"found": [...], "missing": [names]}``."""
        result: dict[str, Any] = await self._lexicons("lexiconResolve", tenant, names=list(names))
        return result

    async def lexicon_versions(self, tenant: str, refs: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """The rules of each (name, version), even replaced ones still kept: ``{"found", "missing"}``."""
        result: dict[str, Any] = await self._lexicons("lexiconVersions", tenant, refs=[list(r) for r in refs])
        return result
