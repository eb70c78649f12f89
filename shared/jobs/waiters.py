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

Waiters are bounded per shard (``MAX_WAITERS_PER_SHARD``): past the bound a
caller is answered at once with the job as it is (``outcome: "busy"``), so a
shard never holds an unbounded number of open requests.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from shared.models import JobRecord, JobStatus
from shared.ports import JsonValue

if TYPE_CHECKING:
    from shared.jobs.rpc_payloads import WaitForChange
    from shared.jobs.shard import JobShard

__all__ = ["JobWaiters", "changed", "wait_for_change"]


class JobWaiters:
    """Futures of the calls waiting on each job of one shard, at most ``limit`` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._futures: dict[str, set[asyncio.Future[None]]] = {}
        self._count = 0

    @property
    def count(self) -> int:
        """How many calls are waiting now."""
        return self._count

    def waiting_on(self, job_id: str) -> int:
        return len(self._futures.get(job_id, ()))

    def notify(self, job_id: str) -> int:
        """Wake every call waiting on ``job_id``; returns how many."""
        futures = self._futures.pop(job_id, None)
        if not futures:
            return 0
        for future in futures:
            if not future.done():
                future.set_result(None)
        return len(futures)

    async def wait(self, job_id: str, timeout: float) -> bool | None:
        """Wait until ``notify(job_id)`` or ``timeout`` seconds.

        True: woken; False: timed out; None: the shard holds ``limit`` waiters
        already (the caller answers at once).
        """
        if self._count >= self.limit:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._futures.setdefault(job_id, set()).add(future)
        self._count += 1
        try:
            done, _ = await asyncio.wait({future}, timeout=max(timeout, 0.0))
            return bool(done)
        finally:
            self._count -= 1
            waiting = self._futures.get(job_id)
            if waiting is not None:
                waiting.discard(future)
                if not waiting:
                    del self._futures[job_id]
            if not future.done():
                future.cancel()


def changed(record: JobRecord, since: JobStatus, since_done: int | None, until_terminal: bool) -> bool:
    """Whether a waiting caller is answered with ``record``."""
    if record.status.is_terminal:
        return True
    if until_terminal:
        return False
    if record.status is not since:
        return True
    return since_done is not None and record.progress_done != since_done


async def wait_for_change(shard: JobShard, waiters: JobWaiters, w: WaitForChange) -> dict[str, JsonValue]:
    """The ``waitForChange`` RPC: ``{"job": <record or null>, "outcome": "changed" | "timeout" | "busy"}``.

    Answers at once when the job is gone, terminal, or already differs from
    ``sinceStatus`` / ``sinceDone`` (absent: as it is now, with ``withProgress``
    for the chunks done); else waits until
    it does (``untilTerminal``: until it is final) or ``timeout`` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + w.timeout
    record = shard.get(w.jobId)
    since = w.sinceStatus or (record.status if record is not None else JobStatus.QUEUED)
    since_done = w.sinceDone
    if since_done is None and w.withProgress and record is not None:
        since_done = record.progress_done
    while True:
        if record is None:
            return {"job": None, "outcome": "changed"}
        if changed(record, since, since_done, w.untilTerminal):
            return {"job": record.to_rpc(), "outcome": "changed"}
        remaining = deadline - loop.time()
        if remaining <= 0:
            return {"job": record.to_rpc(), "outcome": "timeout"}
        woken = await waiters.wait(w.jobId, remaining)
        record = shard.get(w.jobId)
        if woken is None:
            return {"job": record.to_rpc() if record is not None else None, "outcome": "busy"}
        if woken is False and (record is None or not changed(record, since, since_done, w.untilTerminal)):
            return {"job": record.to_rpc() if record is not None else None, "outcome": "timeout"}
