"""Waiting for a job over HTTP: ``Prefer: wait=N``, ``?wait=N``, and the speech route's wait.

Each wait is one ``waitForChange`` RPC that the job's shard answers when the
job changes (shared/jobs/waiters.py): no polling of storage, on either
runtime. ``N`` is capped by ``MAX_WAIT_SECONDS``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.http import HttpRequest
from shared.jobs.rpc_payloads import MAX_WAIT_TIMEOUT
from shared.models import JobRecord

if TYPE_CHECKING:
    from shared.api.deps import ApiDeps

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
    if not raw.isdigit() or len(raw) > 9:
        raise ApiError(400, "invalid_wait", "wait must be a whole number of seconds", field="wait")
    return min(int(raw), max(cap, 0))




async def changed(deps: ApiDeps, job_id: str, seconds: float) -> JobRecord | None:
    """The job once its status or its progress (chunks done), as the shard sees them now,
    changed, or as it is at ``seconds``."""
    return await _wait(deps, job_id, seconds, with_progress=True)


async def until_final(deps: ApiDeps, job_id: str, seconds: float) -> JobRecord | None:
    """The job once it is completed, failed or canceled, or as it is at ``seconds`` (None: deleted)."""
    return await _wait(deps, job_id, seconds, until_terminal=True)


async def _wait(deps: ApiDeps, job_id: str, seconds: float, **how: bool) -> JobRecord | None:
    try:
        record, _ = await deps.jobs.wait_for_change(job_id, min(seconds, MAX_WAIT_TIMEOUT), **how)
        return record
    except Exception as exc:  # noqa: BLE001 - e.g. the shard was reset under the open call
        # A wait always answers: with the job as it is now.
        deps.log.warning("wait_failed", jobId=job_id, error=repr(exc)[:300])
        return await deps.jobs.get(job_id)
