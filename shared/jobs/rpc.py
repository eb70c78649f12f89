"""The RPC surface of ``TtsJobDurableObject``: one table, ``OPERATIONS``.

Each entry names an RPC method, the pydantic model its payload is validated
with, and what it runs on the ``JobShard``. From the table come the
Durable Object's RPC methods (``cloudflare_adapters.durable_objects
.add_rpc_methods``), ``RPC_METHODS`` and the dispatch of ``ShardService``.
Adding an operation: a ``JobShard`` method, a payload model in
``rpc_payloads``, one entry here, and a typed ``JobsClient`` method for the
callers (shared/jobs/client.py).

Two kinds of entry: most ``run`` one synchronous transaction; an entry with
``wait`` (``waitForChange``) awaits inside the object until its job changes
(shared/jobs/waiters.py). An entry's ``wakes`` names the jobs its payload may
change, whose waiters are woken after it ran. The queue messages an entry's
transaction recorded (shared/jobs/outbox.py) are sent once it committed;
an entry's ``replays`` names the jobs its result returns to a caller asking
again (an idempotent replay), whose unsent messages are sent then too.

``ShardService`` runs inside the Durable Object: it returns ``{"ok": true,
"result": ...}`` or ``{"ok": false, "error": {...}}``. Errors travel as
values because an exception thrown across Cloudflare's RPC boundary arrives
as a bare JS ``Error`` that has lost its Python type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import ValidationError

from shared.errors import (
    IllegalTransitionError,
    JobNotFoundError,
    LeaseHeldError,
    ShardFullError,
    StorageUnavailableError,
)
from shared.config import Settings
from shared.jobs import lexicons as lx
from shared.jobs import rpc_payloads as p
from shared.jobs.client import JobsClient
from shared.jobs.outbox import Alarm, OutboxRow
from shared.jobs.shard import JobShard
from shared.jobs.waiters import JobWaiters, wait_for_change
from shared.models import JobRecord
from shared.ports import JsonValue, QueueProducer

if TYPE_CHECKING:
    from shared.logs import JsonLogger

__all__ = ["OPERATIONS", "RPC_METHODS", "JobsClient", "Operation", "ShardService"]

P = TypeVar("P", bound=p.Payload)


@dataclass(frozen=True)
class Operation(Generic[P]):
    payload: type[P]
    run: Callable[[JobShard, P], JsonValue] | None = None
    wakes: Callable[[P], Sequence[str]] | None = None  # the job ids whose waiters it wakes
    wait: Callable[[JobShard, JobWaiters, P], Awaitable[JsonValue]] | None = None
    replays: Callable[[JsonValue], Sequence[str]] | None = None  # the jobs whose unsent messages go out now


def _one(payload: Any) -> Sequence[str]:
    return (payload.jobId,)


def _ids(payload: Any) -> Sequence[str]:
    return tuple(payload.jobIds)


def _job_of(result: JsonValue) -> Sequence[str]:
    return (str(result["jobId"]),) if isinstance(result, dict) and result.get("jobId") else ()


def _rpc(record: JobRecord | None) -> JsonValue:
    return record.to_rpc() if record is not None else None


def _records(records: Sequence[JobRecord]) -> list[dict[str, Any]]:
    return [r.to_rpc() for r in records]


OPERATIONS: dict[str, Operation[Any]] = {
    "create": Operation(p.Create, lambda s, c: _rpc(s.create(c.record)), replays=_job_of),
    "createWithinBudget": Operation(
        p.CreateWithinBudget, lambda s, c: _rpc(s.create_within_budget(c.record, c.budget)), replays=_job_of
    ),
    "get": Operation(p.Get, lambda s, g: _rpc(s.get(g.jobId, with_text=g.withText))),
    "claim": Operation(p.Claim, lambda s, c: _rpc(s.claim(c.jobId, c.leaseSeconds, c.holder)), wakes=_one),
    "complete": Operation(
        p.Complete,
        lambda s, c: _rpc(
            s.complete(
                c.jobId,
                audio_key=c.audioKey,
                mime_type=c.mimeType,
                size_bytes=c.sizeBytes,
                etag=c.etag,
                characters=c.characters,
                cache=(c.cache.reused, c.cache.total, c.cache.savedChars) if c.cache is not None else None,
            )
        ),
        wakes=_one,
    ),
    "release": Operation(p.WithError, lambda s, e: _rpc(s.release(e.jobId, e.error)), wakes=_one),
    "fail": Operation(p.WithError, lambda s, e: _rpc(s.fail(e.jobId, e.error)), wakes=_one),
    "cancel": Operation(p.JobId, lambda s, j: _rpc(s.cancel(j.jobId)), wakes=_one),
    "delete": Operation(p.JobIds, lambda s, j: s.delete(j.jobIds), wakes=_ids),
    "list": Operation(p.ListJobs, lambda s, lp: _records(s.list_for_tenant(lp.tenant, lp.limit, lp.before))),
    "countActive": Operation(p.Tenant, lambda s, t: s.count_active(t.tenant)),
    "expired": Operation(p.Expired, lambda s, e: _records(s.expired(e.now, e.limit, e.after))),
    "stale": Operation(p.Stale, lambda s, st: _records(s.stale(st.status, st.updatedBefore, st.limit, st.after))),
    "lookup": Operation(p.JobIds, lambda s, j: _records(s.lookup(j.jobIds))),
    "progress": Operation(
        p.Progress,
        lambda s, pp: _rpc(
            s.progress(pp.jobId, done=pp.done, total=pp.total, characters=pp.characters, lease_seconds=pp.leaseSeconds)
        ),
        wakes=_one,
    ),
    "renewLease": Operation(p.RenewLease, lambda s, rl: _rpc(s.renew_lease(rl.jobId, rl.holder, rl.leaseSeconds))),
    "findIdempotent": Operation(
        p.FindIdempotent, lambda s, f: _rpc(s.find_idempotent(f.tenant, f.idempotencyKey)), replays=_job_of
    ),
    "markWebhook": Operation(p.JobId, lambda s, j: _rpc(s.mark_webhook(j.jobId))),
    "recordWebhook": Operation(
        p.RecordWebhook,
        lambda s, rw: _rpc(
            s.record_webhook(
                rw.jobId, status=rw.status, attempts=rw.attempts, last_status=rw.lastStatus, last_error=rw.lastError
            )
        ),
    ),
    "repair": Operation(
        p.Repair,
        lambda s, r: _records(
            [x for x in (s.repair(i.jobId, i.expectedUpdatedAt, i.action, i.error) for i in r.items) if x is not None]
        ),
        wakes=lambda r: tuple(i.jobId for i in r.items),
    ),
    "reaperLease": Operation(
        p.ReaperLease, lambda s, lp: s.reaper_state.lease(lp.name, lp.holder, lp.now, lp.until, peek=lp.peek)
    ),
    "reaperSave": Operation(p.ReaperSave, lambda s, sv: s.reaper_state.save(sv.name, sv.holder, sv.until, sv.state)),
    "waitForChange": Operation(p.WaitForChange, wait=wait_for_change),
    "chunkPlan": Operation(
        p.ChunkPlan, lambda s, c: s.chunks.plan(c.jobId, c.plan, c.total, c.holder, c.stored, c.leaseSeconds),
        wakes=_one,
    ),
    "chunkClaim": Operation(
        p.ChunkClaim,
        lambda s, c: s.chunks.claim(
            c.jobId, c.plan, c.index, c.holder, c.leaseSeconds, c.jobLeaseSeconds, renew=c.renew
        ),
    ),
    "chunkStored": Operation(
        p.ChunkStored, lambda s, c: s.chunks.stored(c.jobId, c.plan, c.index, c.characters, c.jobLeaseSeconds),
        wakes=_one,
    ),
    "chunkRelease": Operation(
        p.ChunkRelease, lambda s, c: s.chunks.release(c.jobId, c.plan, c.index, c.holder, c.error)
    ),
    "chunkInfo": Operation(p.ChunkInfo, lambda s, c: s.chunks.info(c.jobId, c.index)),
    # A tenant's lexicons, in its own object (lexicons.lexicon_object_name; shared/jobs/lexicons.py).
    "lexiconPut": Operation(
        lx.LexiconPut,
        lambda s, x: s.lexicons.put(
            x.tenant, x.name, version=x.version, format=x.format, source=x.source, rules=x.rules,
            rule_count=x.ruleCount, size_bytes=x.sizeBytes, language=x.language, now=x.now,
            max_lexicons=x.maxLexicons, keep_seconds=x.keepSeconds,
        ),
    ),
    "lexiconGet": Operation(lx.LexiconName, lambda s, x: s.lexicons.get(x.tenant, x.name)),
    "lexiconList": Operation(lx.LexiconTenant, lambda s, x: s.lexicons.list(x.tenant)),
    "lexiconDelete": Operation(
        lx.LexiconDelete, lambda s, x: s.lexicons.delete(x.tenant, x.name, x.now, x.keepSeconds)
    ),
    "lexiconResolve": Operation(lx.LexiconResolve, lambda s, x: s.lexicons.resolve(x.tenant, x.names)),
    "lexiconVersions": Operation(lx.LexiconVersions, lambda s, x: s.lexicons.versions(x.tenant, x.refs)),
}
RPC_METHODS = tuple(OPERATIONS)


class ShardService:
    """Dispatches RPC calls to a ``JobShard``; never raises for a known error.

    ``producers`` (by ``shared.jobs.outbox`` key) are the queues its outbox
    sends to, ``alarm`` the runtime's wake-up call for the re-sends; the
    runtime calls ``alarm()`` when it rings.
    """

    def __init__(
        self,
        shard: JobShard,
        max_waiters: int = Settings.max_waiters_per_shard,
        *,
        producers: dict[str, QueueProducer] | None = None,
        alarm: Alarm | None = None,
        log: JsonLogger | None = None,
    ) -> None:
        self._shard = shard
        self.waiters = JobWaiters(max_waiters)
        self.outbox = shard.outbox
        self.outbox.connect(producers or {}, alarm, log)
        self._background: set[asyncio.Task[None]] = set()

    def handle(self, method: str, payload: Any) -> dict[str, JsonValue]:
        """A synchronous operation (every entry but the waiting ones). What it recorded in the
        outbox is sent by a task of the running event loop, if any (else by the alarm)."""
        reply, fresh = self._run(method, payload)
        if fresh:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return reply
            task = loop.create_task(self.outbox.deliver(fresh))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return reply

    def _run(self, method: str, payload: Any) -> tuple[dict[str, JsonValue], list[OutboxRow]]:
        reply = self._answer(lambda: self._dispatch(method, payload))
        fresh = self.outbox.take_fresh()  # a failed operation rolled its rows back
        return reply, fresh if reply["ok"] else []

    async def alarm(self) -> int:
        """The shard's alarm rang: send the outbox's due messages; returns how many were sent."""
        return await self.outbox.on_alarm()

    async def handle_async(self, method: str, payload: Any) -> dict[str, JsonValue]:
        """Any operation: a waiting one awaits here; the others run as ``handle``, and the
        messages they recorded are sent before the answer."""
        operation = OPERATIONS.get(method)
        if operation is None or operation.wait is None:
            reply, fresh = self._run(method, payload)
            await self.outbox.deliver(fresh)
            if operation is not None and operation.replays is not None and reply["ok"]:
                sent = {row.job_id for row in fresh}
                await self.outbox.deliver_pending([j for j in operation.replays(reply["result"]) if j not in sent])
            return reply
        try:
            parsed = operation.payload.model_validate(payload)
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_payload", "message": str(exc)[:1000]}}
        return {"ok": True, "result": await operation.wait(self._shard, self.waiters, parsed)}

    def _answer(self, run: Callable[[], JsonValue]) -> dict[str, JsonValue]:
        try:
            return {"ok": True, "result": run()}
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
        except ShardFullError as exc:
            return {"ok": False, "error": {"code": "shard_full", "active": exc.active, "budget": exc.budget}}
        except StorageUnavailableError as exc:
            return {"ok": False, "error": {"code": "storage_unavailable", "condition": exc.condition,
                                           "message": exc.detail[:300]}}
        except lx.LexiconLimitError as exc:
            return {
                "ok": False,
                "error": {"code": "lexicon_limit", "reason": exc.code, "message": exc.message, "retryAfter": exc.retry_after},
            }
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_payload", "message": str(exc)[:1000]}}

    def _dispatch(self, method: str, payload: Any) -> JsonValue:
        operation = OPERATIONS.get(method)
        if operation is None or operation.run is None:
            raise ValueError(f"unknown RPC method {method!r} (or one that waits: handle_async)")
        parsed = operation.payload.model_validate(payload)
        result = operation.run(self._shard, parsed)
        if operation.wakes is not None:
            for job_id in operation.wakes(parsed):
                self.waiters.notify(job_id)
        return result
