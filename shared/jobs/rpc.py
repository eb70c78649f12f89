"""The Durable Object side of the shard RPC: ``ShardService`` dispatches by one generic call.

The operations are declared where their methods live (shared/jobs/rpc_payloads.py
says how); importing this module imports every declaring module, so
``OPERATIONS`` is complete here, and ``RPC_METHODS`` (the Durable Object's RPC
methods, ``cloudflare_adapters.durable_objects.add_rpc_methods``) comes from it.

A call validates its payload with the operation's model, runs the method its
``runs`` names with the payload's fields as keyword arguments, and encodes the
result by the operation's reply kind. An operation that ``changes`` jobs wakes
their waiters after it ran (``waitForChange``, shared/jobs/waiters.py, is the
one that ``waits``). The queue messages an operation's transaction recorded
(shared/jobs/outbox.py) are sent once it committed; one that ``replays`` (its
result may be a job made earlier) sends that job's unsent messages too.

``ShardService`` answers ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error": {"code", "fields"}}`` (``shared.errors.SHARD_ERRORS``; ``bad_payload``
with a ``message`` when the payload is refused): errors travel as values
because an exception thrown across Cloudflare's RPC boundary arrives as a
bare JS ``Error`` that has lost its Python type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shared.config import Settings
from shared.errors import MAX_ERROR_TEXT, ShardError, error_value
from shared.jobs.client import JobsClient
from shared.jobs.outbox import Alarm, OutboxRow
from shared.jobs.rpc_payloads import OPERATIONS, Operation
from shared.jobs.shard import JobShard  # with chunks, lexicons, reaper_state: they declare the operations
from shared.jobs.waiters import JobWaiters, WaitForChange, wait_for_change
from shared.ports import JsonValue, QueueProducer

if TYPE_CHECKING:
    from shared.logs import JsonLogger

__all__ = ["OPERATIONS", "RPC_METHODS", "JobsClient", "ShardService", "run"]

RPC_METHODS = tuple(OPERATIONS)


def run(shard: JobShard, operation: Operation) -> JsonValue:
    """Run one (non-waiting) operation on ``shard``: its method, with its fields as arguments."""
    target: Any = shard
    for name in operation.runs.split("."):
        target = getattr(target, name)
    encode: Any = getattr(operation, "encode")
    return encode(target(**operation.kwargs()))


def _job_of(result: JsonValue) -> Sequence[str]:
    return (str(result["jobId"]),) if isinstance(result, dict) and result.get("jobId") else ()


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
        reply = self._answer(method, payload)
        fresh = self.outbox.take_fresh()  # a failed operation rolled its rows back
        return reply, fresh if reply["ok"] else []

    async def alarm(self) -> int:
        """The shard's alarm rang: send the outbox's due messages; returns how many were sent."""
        return await self.outbox.on_alarm()

    async def handle_async(self, method: str, payload: Any) -> dict[str, JsonValue]:
        """Any operation: a waiting one awaits here; the others run as ``handle``, and the
        messages they recorded are sent before the answer."""
        operation = OPERATIONS.get(method)
        if operation is None or not operation.waits:
            reply, fresh = self._run(method, payload)
            await self.outbox.deliver(fresh)
            if operation is not None and operation.replays and reply["ok"]:
                sent = {row.job_id for row in fresh}
                await self.outbox.deliver_pending([j for j in _job_of(reply["result"]) if j not in sent])
            return reply
        try:
            parsed = operation.model_validate(payload)
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_payload", "message": str(exc)[:MAX_ERROR_TEXT]}}
        if not isinstance(parsed, WaitForChange):
            raise ValueError(f"{method!r} waits, and only waitForChange knows how")
        return {"ok": True, "result": await wait_for_change(self._shard, self.waiters, parsed)}

    def _answer(self, method: str, payload: Any) -> dict[str, JsonValue]:
        try:
            return {"ok": True, "result": self._dispatch(method, payload)}
        except ShardError as exc:
            return {"ok": False, "error": error_value(exc)}
        except ValidationError as exc:
            return {"ok": False, "error": {"code": "bad_payload", "message": str(exc)[:MAX_ERROR_TEXT]}}

    def _dispatch(self, method: str, payload: Any) -> JsonValue:
        operation = OPERATIONS.get(method)
        if operation is None or operation.waits:
            raise ValueError(f"unknown RPC method {method!r} (or one that waits: handle_async)")
        parsed = operation.model_validate(payload)
        result = run(self._shard, parsed)
        if operation.changes:
            for job_id in parsed.jobs():
                self.waiters.notify(job_id)
        return result
