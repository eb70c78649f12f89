"""Waiting for a job over HTTP: ``Prefer: wait=N``, ``?wait=N``, and the speech route's wait.

Each wait is one ``waitForChange`` RPC that the job's shard answers when the
job changes (shared/jobs/waiters.py): no polling of storage, on either
runtime. ``N`` is capped by ``MAX_WAIT_SECONDS``.

Every wait names the caller's tenant, so the shard checks ownership before
it waits: another tenant's job answers as a missing one, at once. A wait the
shard has no place for (the tenant holds its share of the shard's waiting
places, ``MAX_WAITERS_PER_SHARD``) or cuts short because the runtime is
shutting down comes back as ``Waited.outcome`` ``busy`` / ``shutdown``; each
route answers those in its own way (``?wait``: 429 or the job as it is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.request_limits import ascii_int
from shared.http import HttpRequest
from shared.config import MAX_WAIT_TIMEOUT
from shared.jobs.shard import Get
from shared.jobs.waiters import WaitForChange
from shared.models import JobRecord

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

_PREFER_WAIT = re.compile(r"^\s*wait\s*=\s*\"?(\d{1,9})\"?\s*$", re.IGNORECASE)


def prefer_wait(request: HttpRequest, cap: int) -> int | None:
    """The seconds of ``Prefer: wait=N`` (RFC 7240 section 4.3), at most ``cap``; None without one.

    A preference the server does not understand is ignored, as the RFC asks
    (no error); ``Prefer`` may list several, comma-separated, each with
    ``;`` parameters, which are ignored here.
    """
    header = request.headers.get("prefer")
    if not header or cap <= 0:
        return None
    for preference in header.split(","):
        match = _PREFER_WAIT.match(preference.split(";", 1)[0])
        if match:
            return min(int(match.group(1)), cap)
    return None


def query_wait(request: HttpRequest, cap: int) -> int | None:
    """The seconds of ``?wait=N`` (0 to ``MAX_WAIT_SECONDS``; more is capped); 400 when not a number."""
    raw = request.query_param("wait")
    if raw is None:
        return None
    value = ascii_int(raw, max_digits=9)
    if value is None:
        raise ApiError(400, "invalid_wait", "wait must be a whole number of seconds", field="wait")
    return min(value, max(cap, 0))


BUSY_RETRY_AFTER = 2


@dataclass(frozen=True)
class Waited:
    record: JobRecord | None  # None: deleted, or not the caller's
    outcome: str  # changed | timeout | busy | shutdown

    @property
    def busy(self) -> bool:
        return self.outcome == "busy"


def too_many_waiters() -> ApiError:
    """The 429 of a tenant over its share of a shard's waiting places (``MAX_WAITERS_PER_SHARD``)."""
    return ApiError(
        429, "too_many_waiters",
        "this account already holds its share of the long-polls open on this job's shard; retry shortly",
        headers={"Retry-After": str(BUSY_RETRY_AFTER)},
    )


async def changed(deps: Dependencies, tenant: str, job_id: str, seconds: float) -> Waited:
    """The job once its status or its progress (chunks done), as the shard sees them now,
    changed, or as it is at ``seconds``."""
    return await _wait(deps, tenant, job_id, seconds, with_progress=True)


async def until_final(deps: Dependencies, tenant: str, job_id: str, seconds: float) -> Waited:
    """The job once it is completed, failed or canceled, or as it is at ``seconds`` (None: deleted)."""
    return await _wait(deps, tenant, job_id, seconds, until_terminal=True)


async def _wait(
    deps: Dependencies, tenant: str, job_id: str, seconds: float, *, with_progress: bool = False, until_terminal: bool = False
) -> Waited:
    try:
        record, outcome = await deps.jobs.call(
            WaitForChange(
                job_id=job_id, timeout=min(seconds, MAX_WAIT_TIMEOUT), tenant=tenant, with_progress=with_progress,
                until_terminal=until_terminal,
            )
        )
        return Waited(record, outcome)
    except Exception as exc:  # noqa: BLE001 - e.g. the shard was reset under the open call
        # A wait always answers: with the job as it is now.
        deps.log.warning("wait_failed", jobId=job_id, error=repr(exc)[:300])
        record = await deps.jobs.call(Get(job_id=job_id))
        return Waited(record if record is not None and record.tenant == tenant else None, "timeout")
