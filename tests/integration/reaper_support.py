"""Helpers for the reaper's tests on an in-process local runtime with a fake clock.

Queue messages are drained by hand (``drain``) rather than by the runtime's
queue runners, so each test decides exactly when the consumer runs.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from local_runtime.bindings.queue import Outcome, QueueConsumerConfig
from local_runtime.runtime import LocalRuntime
from shared.bootstrap import queue_batch
from shared.consumer import object_metadata
from shared.http import HttpRequest
from shared.jobs.shard import Get
from shared.keys import audio_key
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Retry
from tests.fakes import FakeClock

ENV = {
    "SHARD_COUNT": "4",
    "DEFAULT_MODEL": "tone",
    "JOB_TTL_SECONDS": "3600",
    "ORPHAN_GRACE_SECONDS": "600",
    "REAPER_STUCK_SECONDS": "900",
    "REAPER_SWEEP_INTERVAL_SECONDS": "0",
    "LEASE_SECONDS": "120",
    # The reaper's suites count objects per job and submit the same text again: no synthesis cache
    # (test_synthesis_cache.py turns it on).
    "SYNTHESIS_CACHE": "off",
}
CONSUMER = QueueConsumerConfig(max_batch_size=10, max_batch_timeout=0, max_retries=3)


@asynccontextmanager
async def reaper_runtime(data_dir: Path, clock: FakeClock, **env: str) -> AsyncIterator[LocalRuntime]:
    runtime = LocalRuntime(data_dir, {**ENV, **env}, port=0, clock=clock, cron_interval=0, log_stream=io.StringIO())
    try:
        yield runtime
    finally:
        await runtime.stop()


async def call(rt: LocalRuntime, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"} if body is not None else {}
    reply = await rt.handle(HttpRequest.build(method, path, headers=headers, body=raw))
    if reply.blob is not None:
        data = await reply.blob.read()
        return reply.status, data
    try:
        return reply.status, json.loads(reply.body) if reply.body else None
    except ValueError:
        return reply.status, reply.body


async def submit(rt: LocalRuntime, text: str = "hello reaper", **fields: Any) -> str:
    status, body = await call(rt, "POST", "/v1/jobs", {"text": text, **fields})
    assert status == 202, body
    return str(body["jobId"])


async def drain(rt: LocalRuntime, *, lose: bool = False) -> int:
    """Deliver every ready message of the jobs and the chunk queue (a long job's plan, tasks and
    assembly) to the consumer (or, with ``lose``, ack them unprocessed: the messages are lost),
    until both are empty. Returns how many were delivered."""
    delivered = 0
    while True:
        before = delivered
        for queue in (rt.queue, rt.chunk_queue):
            batch = await queue.pull_batch(CONSUMER)
            if not batch:
                continue
            delivered += len(batch)
            outcomes: dict[str, Outcome] = {}
            if not lose:
                result = await queue_batch(rt.deps, queue.name, batch)  # routed as the runtime routes it
                for message_id, decision in result.outcomes.items():
                    if isinstance(decision, Retry):
                        outcomes[message_id] = Outcome.retry(decision.delay_seconds)
                    elif isinstance(decision, Ack):
                        outcomes[message_id] = Outcome.ack()
            await queue.settle_batch(batch, False, outcomes)
        if delivered == before:
            return delivered


async def completed_job(rt: LocalRuntime, **fields: Any) -> JobRecord:
    job_id = await submit(rt, **fields)
    await drain(rt)
    record = await rt.jobs.call(Get(job_id=job_id))
    assert record is not None and record.status is JobStatus.COMPLETED, record
    return record


async def put_like_consumer(rt: LocalRuntime, record: JobRecord) -> str:
    """What the consumer writes to R2 for a job, before it completes the job."""
    key = audio_key(record.job_id, record.created_at, "wav")
    await rt.bucket.put(key, b"RIFF....WAVE", content_type="audio/wav", custom_metadata=object_metadata(record, rt.clock()))
    return key


async def keys(rt: LocalRuntime) -> set[str]:
    out: set[str] = set()
    after: str | None = None
    while True:
        page = await rt.bucket.list(prefix="", start_after=after, limit=1000)
        out.update(o.key for o in page.objects)
        if not page.truncated:
            return out
        after = page.objects[-1].key
