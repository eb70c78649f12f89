"""The local runtime's side of the outbox: a job whose message a crash left unsent (committed with
its job, never sent) is sent by its shard's alarm once the runtime is back, and the job runs."""

from __future__ import annotations

import asyncio
import io
import time
from pathlib import Path

from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.runtime import LocalRuntime
from shared.jobs.outbox import RESEND_AFTER_SECONDS
from shared.jobs.shard import Get, JobShard
from shared.jobs.sharding import shard_for
from shared.models import JobRecord, JobStatus

ENV = {"SHARD_COUNT": "2", "QUEUE_MAX_BATCH_TIMEOUT": "0.01", "CRON_INTERVAL_SECONDS": "0", "JOB_RATE_LIMIT": "0"}


async def test_a_message_left_unsent_by_a_crash_is_sent_after_the_restart(tmp_path: Path) -> None:
    # GIVEN a job written with its message by a process that died before sending it
    job_id = "c" * 32
    now = time.time()
    record = JobRecord(
        job_id=job_id, tenant="anonymous", status=JobStatus.QUEUED, text="hello", model="tone",
        voice_id="default", format="wav", created_at=now, updated_at=now, ttl_seconds=3600,
    )
    namespace = SqliteDurableObjectNamespace(tmp_path)
    JobShard(namespace.get(shard_for(job_id, 2)), time.time, shard_count=2).create(record)
    namespace.close()
    # WHEN the runtime starts on that data dir
    runtime = LocalRuntime(tmp_path, ENV, port=0, log_stream=io.StringIO(), cron_interval=0)
    await runtime.start()
    try:
        # THEN the job's shard sends its message (RESEND_AFTER_SECONDS after the commit) and it runs
        deadline = time.monotonic() + RESEND_AFTER_SECONDS + 20
        while True:
            stored = await runtime.jobs.call(Get(job_id=job_id))
            assert stored is not None
            if stored.status is JobStatus.COMPLETED:
                break
            assert time.monotonic() < deadline, stored.status
            await asyncio.sleep(0.05)
        assert runtime.shards is not None
        assert runtime.shards.service(shard_for(job_id, 2)).outbox.pending() == []
    finally:
        await runtime.stop()
