"""``GET /v1/jobs/{id}/events``: a job's changes as server-sent events, instead of polling.

Each event is ``event: job``, ``id: <the job's version>`` (its change counter,
``JobRecord.version``: every write to the job adds one) and ``data: <the job
view JSON, as GET /v1/jobs/{id} answers>``. The first comes at once, the last
at a final state (completed, failed, canceled), then the stream ends. With
``Last-Event-ID: n`` (what a browser's ``EventSource`` sends when it
reconnects) the stream resumes after change ``n``: the job as it is now if it
changed since, else nothing until it changes.

Between events the stream makes one ``waitForChange`` call at a time to the
job's shard, answered when the job's status or progress changes
(shared/jobs/waiters.py): no polling. Each call waits at most
``MAX_WAIT_SECONDS`` and 25 s; a call that times out sends a comment
(``: keepalive``) so that proxies and clients' read timeouts keep the
connection open. Bounds: the stream
ends after ``SPEECH_WAIT_SECONDS`` without any change (the client reconnects
with ``Last-Event-ID``), and when the job is deleted.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from shared.api import signed_links, sse
from shared.api.errors import ApiError
from shared.api.jobs import own
from shared.api.links import link_base
from shared.api.request_limits import ascii_int
from shared.api.views import job_view
from shared.http import HttpRequest, HttpResponse
from shared.jobs.shard import Get
from shared.jobs.waiters import WaitForChange
from shared.models import JOB_ID_PATTERN, JobRecord

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

_JOB_ID = re.compile(JOB_ID_PATTERN)
BUSY_PAUSE_SECONDS = 1.0  # the shard holds its most waiters: ask again after this
KEEPALIVE_SECONDS = 25  # the longest silence: under clients' usual 30 s read timeouts and proxies' idle limits


def last_event_id(request: HttpRequest) -> int | None:
    """The ``Last-Event-ID`` header as a change counter; 400 when it is not one of ours."""
    raw = request.headers.get("last-event-id")
    if raw is None or raw.strip() == "":
        return None
    value = ascii_int(raw.strip(), max_digits=12)
    if value is None:
        raise ApiError(400, "invalid_last_event_id", "Last-Event-ID must be the id of an event of this stream",
                       field="Last-Event-ID")
    return value


async def job_events(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str) -> HttpResponse:
    after = last_event_id(request)
    record = own(deps, tenant, job_id, await deps.jobs.call(Get(job_id=job_id)) if _JOB_ID.match(job_id) else None)
    base = link_base(deps.settings, request.base_url)
    return sse.response(_events(deps, tenant, record, after, base), {"X-Job-Id": record.job_id})


def _event(deps: Dependencies, record: JobRecord, base: str) -> bytes:
    view = job_view(record, base, signed_links.audio_links(deps)).to_json_dict()
    return sse.event(view, name="job", event_id=record.version)


async def _events(deps: Dependencies, tenant: str, record: JobRecord, after: int | None, base: str) -> AsyncIterator[bytes]:
    current = record
    if after is None or current.version > after:
        yield _event(deps, current, base)
    idle = 0.0
    seconds = max(1, min(deps.settings.max_wait_seconds, KEEPALIVE_SECONDS))
    while not current.status.is_terminal:
        if idle >= deps.settings.speech_wait_seconds:
            return  # nothing for that long: the client reconnects with Last-Event-ID
        changed, outcome = await deps.jobs.call(
            WaitForChange(
                job_id=current.job_id,
                timeout=seconds,
                since_status=current.status,
                since_done=current.progress_done,
                tenant=tenant,
            )
        )
        if changed is None or changed.tenant != tenant or outcome == "shutdown":
            return  # deleted, or the server is stopping (the client reconnects with Last-Event-ID)
        if outcome == "busy":
            await asyncio.sleep(BUSY_PAUSE_SECONDS)
            idle += BUSY_PAUSE_SECONDS
        if (changed.status, changed.progress_done) != (current.status, current.progress_done):
            current = changed
            idle = 0.0
            yield _event(deps, current, base)
        else:
            if outcome != "busy":
                idle += seconds
            yield sse.KEEPALIVE
