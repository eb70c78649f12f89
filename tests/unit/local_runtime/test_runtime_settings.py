"""Settings the local runtime must apply as the Workers do (the setting, not a constant)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from local_runtime.runtime import LocalRuntime
from shared.jobs.shard import Create
from shared.jobs.waiters import WaitForChange
from shared.models import JobRecord, JobStatus


async def test_max_waiters_per_shard_bounds_the_local_shards_waits(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, {"MAX_WAITERS_PER_SHARD": "1", "SHARD_COUNT": "1"}, port=0,
                           log_stream=io.StringIO(), cron_interval=0)
    try:
        now = runtime.clock()
        for job_id in ("a" * 32, "b" * 32):
            await runtime.jobs.call(
                Create(
                    record=JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="hi",
                                                model="tone", format="wav", created_at=now, updated_at=now,
                                                ttl_seconds=60),
                )
            )
        first = asyncio.ensure_future(runtime.jobs.call(
            WaitForChange(job_id="a" * 32, timeout=0.5, since_status=JobStatus.QUEUED)
        ))
        await asyncio.sleep(0.05)
        _, outcome = await runtime.jobs.call(WaitForChange(job_id="b" * 32, timeout=0.5, since_status=JobStatus.QUEUED))
        assert outcome == "busy"  # the shard holds its one waiter already
        assert (await first)[1] == "timeout"
    finally:
        await runtime.stop()
