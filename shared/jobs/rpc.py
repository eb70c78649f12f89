"""The RPC surface of ``TtsJobDurableObject``: both ends of it.

``ShardService`` runs inside the Durable Object: it validates each payload
with pydantic and returns ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error": {...}}``. Errors travel as values because an exception thrown across
Cloudflare's RPC boundary arrives as a bare JS ``Error`` that has lost its
Python type. ``JobsClient`` is the caller's side: it routes each job to its
shard and turns error values back into ``shared.errors`` exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import BoundaryError, IllegalTransitionError, JobNotFoundError, LeaseHeldError
from shared.jobs.shard import JobShard
from shared.jobs.sharding import all_shards, shard_for
from shared.models import JobRecord, JobStatus
from shared.ports import JsonValue, ShardResolver

RPC_METHODS = (
    "create",
    "get",
    "claim",
    "complete",
    "release",
    "fail",
    "cancel",
    "delete",
    "list",
    "countActive",
    "expired",
    "stale",
    "lookup",
    "progress",
    "renewLease",
    "findIdempotent",
    "markWebhook",
    "recordWebhook",
    "repair",
    "reaperLease",
    "reaperSave",
)


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _JobId(_Payload):
    jobId: str


class _Get(_JobId):
    withText: bool = False


class _Claim(_JobId):
    leaseSeconds: float = Field(gt=0)
    holder: str | None = Field(default=None, min_length=1, max_length=128)


class _RenewLease(_JobId):
    holder: str = Field(min_length=1, max_length=128)
    leaseSeconds: float = Field(gt=0)


class _Complete(_JobId):
    audioKey: str
    mimeType: str
    sizeBytes: int
    etag: str
    characters: int = 0


class _WithError(_JobId):
    error: str


class _JobIds(_Payload):
    jobIds: list[str] = Field(max_length=1000)


class _List(_Payload):
    tenant: str
    limit: int = Field(ge=1, le=1000)
    before: tuple[float, str] | None = None


class _Tenant(_Payload):
    tenant: str


class _Expired(_Payload):
    now: float
    limit: int = Field(ge=1, le=1000)
    after: tuple[float, str] | None = None


class _Stale(_Payload):
    status: JobStatus
    updatedBefore: float
    limit: int = Field(ge=1, le=1000)
    after: tuple[float, str] | None = None


class _RepairItem(_JobId):
    expectedUpdatedAt: float
    action: Literal["resend", "requeue", "fail"]
    error: str = Field(default="", max_length=2000)


class _Repair(_Payload):
    items: list[_RepairItem] = Field(max_length=100)


_LEASE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"


class _ReaperLease(_Payload):
    name: str = Field(pattern=_LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    now: float
    until: float
    peek: bool = False


class _ReaperSave(_Payload):
    name: str = Field(pattern=_LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    until: float
    state: dict[str, str | int | float | bool | None] | None = None


class _Create(_Payload):
    record: JobRecord


class _Progress(_JobId):
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    characters: int = Field(ge=0)
    leaseSeconds: float | None = Field(default=None, gt=0)


class _FindIdempotent(_Payload):
    tenant: str
    idempotencyKey: str = Field(min_length=1, max_length=128)


class _RecordWebhook(_JobId):
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(ge=0)
    lastStatus: int | None = None
    lastError: str | None = Field(default=None, max_length=2000)


def _records(records: Sequence[JobRecord]) -> list[dict[str, Any]]:
    return [r.to_rpc() for r in records]


class ShardService:
    """Dispatches RPC calls to a ``JobShard``; never raises for a known error."""

    def __init__(self, shard: JobShard) -> None:
        self._shard = shard

    def handle(self, method: str, payload: Any) -> dict[str, JsonValue]:
        try:
            return {"ok": True, "result": self._dispatch(method, payload)}
        except JobNotFoundError as exc:
            return {"ok": False, "error": {"code": "not_found", "jobId": exc.job_id}}
        except IllegalTransitionError as exc:
            return {
                "ok": False,
                "error": {"code": "illegal_transition", "jobId": exc.job_id, "current": exc.current, "target": exc.target},
            }
        except LeaseHeldError as exc:
            return {
                "ok": False,
                "error": {"code": "lease_held", "jobId": exc.job_id, "leaseUntil": exc.lease_until, "holder": exc.holder},
            }
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_payload", "message": str(exc)[:1000]}}

    def _dispatch(self, method: str, payload: Any) -> JsonValue:
        s = self._shard
        if method == "create":
            return s.create(_Create.model_validate(payload).record).to_rpc()
        if method == "get":
            p = _Get.model_validate(payload)
            record = s.get(p.jobId, with_text=p.withText)
            return record.to_rpc() if record else None
        if method == "claim":
            p = _Claim.model_validate(payload)
            return s.claim(p.jobId, p.leaseSeconds, p.holder).to_rpc()
        if method == "complete":
            c = _Complete.model_validate(payload)
            return s.complete(
                c.jobId,
                audio_key=c.audioKey,
                mime_type=c.mimeType,
                size_bytes=c.sizeBytes,
                etag=c.etag,
                characters=c.characters,
            ).to_rpc()
        if method == "release":
            e = _WithError.model_validate(payload)
            return s.release(e.jobId, e.error).to_rpc()
        if method == "fail":
            e = _WithError.model_validate(payload)
            return s.fail(e.jobId, e.error).to_rpc()
        if method == "cancel":
            return s.cancel(_JobId.model_validate(payload).jobId).to_rpc()
        if method == "delete":
            return s.delete(_JobIds.model_validate(payload).jobIds)
        if method == "list":
            lp = _List.model_validate(payload)
            return _records(s.list_for_tenant(lp.tenant, lp.limit, lp.before))
        if method == "countActive":
            return s.count_active(_Tenant.model_validate(payload).tenant)
        if method == "expired":
            ep = _Expired.model_validate(payload)
            return _records(s.expired(ep.now, ep.limit, ep.after))
        if method == "stale":
            sp = _Stale.model_validate(payload)
            return _records(s.stale(sp.status, sp.updatedBefore, sp.limit, sp.after))
        if method == "lookup":
            return _records(s.lookup(_JobIds.model_validate(payload).jobIds))
        if method == "progress":
            pp = _Progress.model_validate(payload)
            return s.progress(
                pp.jobId, done=pp.done, total=pp.total, characters=pp.characters, lease_seconds=pp.leaseSeconds
            ).to_rpc()
        if method == "renewLease":
            rl = _RenewLease.model_validate(payload)
            return s.renew_lease(rl.jobId, rl.holder, rl.leaseSeconds).to_rpc()
        if method == "findIdempotent":
            fp = _FindIdempotent.model_validate(payload)
            found = s.find_idempotent(fp.tenant, fp.idempotencyKey)
            return found.to_rpc() if found else None
        if method == "markWebhook":
            return s.mark_webhook(_JobId.model_validate(payload).jobId).to_rpc()
        if method == "recordWebhook":
            rw = _RecordWebhook.model_validate(payload)
            return s.record_webhook(
                rw.jobId, status=rw.status, attempts=rw.attempts, last_status=rw.lastStatus, last_error=rw.lastError
            ).to_rpc()
        if method == "repair":
            items = _Repair.model_validate(payload).items
            repaired = (s.repair(i.jobId, i.expectedUpdatedAt, i.action, i.error) for i in items)
            return [r.to_rpc() for r in repaired if r is not None]
        if method == "reaperLease":
            lp = _ReaperLease.model_validate(payload)
            return s.reaper_state.lease(lp.name, lp.holder, lp.now, lp.until, peek=lp.peek)
        if method == "reaperSave":
            sv = _ReaperSave.model_validate(payload)
            return s.reaper_state.save(sv.name, sv.holder, sv.until, sv.state)
        raise ValueError(f"unknown RPC method {method!r}")


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
        self, job_id: str, *, audio_key: str, mime_type: str, size_bytes: int, etag: str, characters: int
    ) -> JobRecord:
        return await self._job(
            "complete",
            job_id,
            audioKey=audio_key,
            mimeType=mime_type,
            sizeBytes=size_bytes,
            etag=etag,
            characters=characters,
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

    async def count_active(self, tenant: str) -> int:
        counts = await asyncio.gather(*(self._call(s, "countActive", {"tenant": tenant}) for s in self.shards()))
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
