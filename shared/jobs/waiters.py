"""Callers waiting inside a shard for a job to change: the long-poll's other half.

``GET /v1/jobs/{id}?wait=N``, ``Prefer: wait=N`` and ``POST
/v1/audio/speech`` do not poll. The api Worker makes one ``waitForChange``
RPC to the job's shard (shared/jobs/rpc.py); the shard reads the job, and
when it has not yet changed, parks the call here on an asyncio future. Every
RPC that may change a job (claim, progress, complete, fail, cancel, release,
delete, repair) wakes that job's waiters after its transaction; each woken
caller reads its job again and answers or waits on. A timeout always answers.

The shard runs one call at a time (a Durable Object is single-threaded; the
local host calls it from one event loop), so the future a waiting call awaits
is resolved by another call to the same object: on workerd every request to
one Durable Object shares its I/O context, which is what lets a Python
future made by one request be resolved by another
(tests/integration/test_wait_http.py proves it on workerd).

Waiters are bounded per shard (``MAX_WAITERS_PER_SHARD``) and shared fairly
between tenants: while the shard has room anyone may wait; once it is full,
a tenant holding fewer than its share (the bound split evenly over the
tenants waiting, itself included) takes the place of the oldest waiter of
the tenant holding the most, and that waiter is answered at once with its job
as it is (``outcome: "busy"``), as is a caller already at its share. So one
tenant's waits never leave another's without a place, and a shard never
holds an unbounded number of open requests.

A caller that names its ``tenant`` is answered "no job" at once for another
tenant's job (as for a missing one): the ownership check comes before any wait,
so how long the answer takes reveals nothing.

``close()`` (the runtime shutting down) answers every waiter at once with
``outcome: "shutdown"`` and every later call the same, without waiting.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import Field

from shared.jobs.rpc_payloads import JobOperation
from shared.config import MAX_WAIT_TIMEOUT
from shared.models import JobRecord, JobStatus
from shared.ports import JsonValue

if TYPE_CHECKING:
    from shared.jobs.shard import JobShard

__all__ = ["JobWaiters", "WaitForChange", "changed", "wait_for_change"]


class _Waiter:
    __slots__ = ("future", "job_id", "tenant", "outcome")

    def __init__(self, future: asyncio.Future[None], job_id: str, tenant: str) -> None:
        self.future = future
        self.job_id = job_id
        self.tenant = tenant
        self.outcome: str | None = None  # "busy" (its place given up) or "shutdown" when answered early


class JobWaiters:
    """The calls waiting on each job of one shard: at most ``limit``, shared fairly between tenants."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._futures: dict[str, set[asyncio.Future[None]]] = {}
        self._by_tenant: dict[str, list[_Waiter]] = {}  # oldest first
        self._count = 0
        self.closed = False

    @property
    def count(self) -> int:
        """How many calls are waiting now."""
        return self._count

    def waiting_on(self, job_id: str) -> int:
        return len(self._futures.get(job_id, ()))

    def held_by(self, tenant: str) -> int:
        return len(self._by_tenant.get(tenant, ()))

    def share(self, tenant: str) -> int:
        """``tenant``'s fair share of the places: the limit split over the tenants waiting, itself included."""
        tenants = len(self._by_tenant) + (0 if tenant in self._by_tenant else 1)
        return max(1, self.limit // tenants)

    def notify(self, job_id: str) -> int:
        """Wake every call waiting on ``job_id``; returns how many."""
        futures = self._futures.pop(job_id, None)
        if not futures:
            return 0
        for future in futures:
            if not future.done():
                future.set_result(None)
        return len(futures)

    def close(self) -> int:
        """Answer every waiter now, and every later ``wait`` at once (shutdown); returns how many."""
        self.closed = True
        woken = 0
        for waiters in list(self._by_tenant.values()):
            for waiter in waiters:
                if not waiter.future.done():
                    waiter.outcome = "shutdown"
                    waiter.future.set_result(None)
                    woken += 1
        return woken

    def _admit(self, tenant: str) -> bool:
        if self._count < self.limit:
            return True
        if self.held_by(tenant) >= self.share(tenant):
            return False  # full, and this tenant already holds its share
        # Full, and this tenant holds less than its share: the tenant holding the most gives up its oldest.
        greedy = max(self._by_tenant.values(), key=len)
        victim = next((w for w in greedy if not w.future.done()), None)
        if victim is None:
            return False
        victim.outcome = "busy"
        victim.future.set_result(None)
        self._forget(victim)
        return True

    async def wait(self, job_id: str, timeout: float, tenant: str = "") -> bool | None | str:
        """Wait until ``notify(job_id)`` or ``timeout`` seconds.

        True: woken; False: timed out; None: no place for this tenant (the caller
        answers at once); ``"busy"``: its place was given to a tenant under its share;
        ``"shutdown"``: the shard is closing.
        """
        if self.closed:
            return "shutdown"
        if not self._admit(tenant):
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(future, job_id, tenant)
        self._futures.setdefault(job_id, set()).add(future)
        self._by_tenant.setdefault(tenant, []).append(waiter)
        self._count += 1
        try:
            done, _ = await asyncio.wait({future}, timeout=max(timeout, 0.0))
            if waiter.outcome is not None:
                return waiter.outcome
            return bool(done)
        finally:
            self._forget(waiter)
            if not future.done():
                future.cancel()

    def _forget(self, waiter: _Waiter) -> None:
        """Release ``waiter``'s place (once)."""
        held = self._by_tenant.get(waiter.tenant)
        if held is None or waiter not in held:
            return
        held.remove(waiter)
        if not held:
            del self._by_tenant[waiter.tenant]
        self._count -= 1
        waiting = self._futures.get(waiter.job_id)
        if waiting is not None:
            waiting.discard(waiter.future)
            if not waiting:
                del self._futures[waiter.job_id]


def changed(record: JobRecord, since: JobStatus, since_done: int | None, until_terminal: bool) -> bool:
    """Whether a waiting caller is answered with ``record``."""
    if record.status.is_terminal:
        return True
    if until_terminal:
        return False
    if record.status is not since:
        return True
    return since_done is not None and record.progress_done != since_done


class WaitForChange(JobOperation):
    """Answer when the job differs from ``since_status`` (absent: its status now) or its
    chunks done from ``since_done`` (absent with ``with_progress``: its chunks done now);
    ``until_terminal``: only once it is final; ``tenant``: at once when the job is not its.
    Returns the job as it then is (None: gone) and the outcome."""

    runs = "wait_for_change"  # awaited by ShardService with the shard's waiters, not a JobShard method
    waits = True
    timeout: float = Field(ge=0, le=MAX_WAIT_TIMEOUT)
    since_status: JobStatus | None = None
    since_done: int | None = Field(default=None, ge=0)
    until_terminal: bool = False
    with_progress: bool = False
    tenant: str | None = Field(default=None, max_length=200)

    @staticmethod
    def encode(result: dict[str, JsonValue]) -> JsonValue:
        return result

    def decode(self, data: Any) -> tuple[JobRecord | None, str]:
        job = data.get("job")
        return (JobRecord.model_validate(job) if job is not None else None), str(data.get("outcome"))


async def wait_for_change(shard: JobShard, waiters: JobWaiters, w: WaitForChange) -> dict[str, JsonValue]:
    """The ``waitForChange`` RPC: ``{"job": <record or null>, "outcome": "changed" | "timeout" | "busy" | "shutdown"}``.

    Answers at once when the job is gone, is not ``tenant``'s, is terminal, or
    already differs from ``since_status`` / ``since_done`` (absent: as it is now,
    with ``with_progress`` for the chunks done); else waits until it does
    (``until_terminal``: until it is final) or ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + w.timeout
    record = _visible(shard.get(w.job_id), w.tenant)
    since = w.since_status or (record.status if record is not None else JobStatus.QUEUED)
    since_done = w.since_done
    if since_done is None and w.with_progress and record is not None:
        since_done = record.progress_done
    while True:
        if record is None:
            return {"job": None, "outcome": "changed"}
        if changed(record, since, since_done, w.until_terminal):
            return {"job": record.to_rpc(), "outcome": "changed"}
        remaining = deadline - loop.time()
        if remaining <= 0:
            return {"job": record.to_rpc(), "outcome": "timeout"}
        woken = await waiters.wait(w.job_id, remaining, record.tenant)
        record = _visible(shard.get(w.job_id), w.tenant)
        if woken is None or isinstance(woken, str):
            return {"job": record.to_rpc() if record is not None else None, "outcome": woken or "busy"}
        if woken is False and (record is None or not changed(record, since, since_done, w.until_terminal)):
            return {"job": record.to_rpc() if record is not None else None, "outcome": "timeout"}


def _visible(record: JobRecord | None, tenant: str | None) -> JobRecord | None:
    """``record`` as a caller acting for ``tenant`` may see it: another tenant's job is no job."""
    if record is None or tenant is None or record.tenant == tenant:
        return record
    return None
