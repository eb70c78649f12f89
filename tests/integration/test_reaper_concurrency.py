"""Two reaper runs at once, and runs killed half way, on the local runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from local_runtime.runtime import LocalRuntime
from shared.dependencies import Dependencies
from shared.jobs.rpc import JobsClient
from shared.jobs.shard import Claim, Get
from shared.models import JobRecord
from shared.ports import JsonValue
from shared.reaper import run_reaper
from tests.fakes import FakeClock
from tests.integration.reaper_support import call, completed_job, drain, keys, put_like_consumer, reaper_runtime, submit

LEASE_SECONDS = 20 + 60  # REAPER_MAX_SECONDS + the lease margin


class Yielding:
    """A shard stub that lets the event loop switch runs before every call (as
    real I/O would), and lets a test hook in before a given call."""

    def __init__(self, inner: Any, before: Callable[[str], Any] | None = None) -> None:
        self._inner = inner
        self._before = before

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        await asyncio.sleep(0)
        if self._before is not None:
            await self._before(method)
        return await self._inner.call(method, payload)


class RecordingBucket:
    """The runtime's bucket, recording the keys each run asked to delete."""

    def __init__(self, inner: Any, before_delete: Callable[[], Any] | None = None) -> None:
        self._inner = inner
        self._before_delete = before_delete
        self.deleted: list[str] = []

    async def delete(self, keys: Sequence[str]) -> None:
        await asyncio.sleep(0)
        if self._before_delete is not None:
            await self._before_delete()
        self.deleted.extend(keys)
        await self._inner.delete(keys)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def deps_for(rt: LocalRuntime, bucket: Any, before: Callable[[str], Any] | None = None) -> Dependencies:
    jobs = JobsClient(lambda name: Yielding(rt.shards.stub(name), before), rt.settings.shard_count)
    return replace(rt.deps.acting_as("reaper"), jobs=jobs, bucket=bucket)


async def world(rt: LocalRuntime, clock: FakeClock) -> tuple[list[JobRecord], list[JobRecord], list[str]]:
    """Expired jobs, live jobs, and orphaned objects past their grace."""
    expired = [await completed_job(rt, ttlSeconds=60) for _ in range(8)]
    orphans = []
    for _ in range(3):
        job_id = await submit(rt)
        await drain(rt, lose=True)
        orphans.append(await put_like_consumer(rt, await rt.jobs.call(Claim(job_id=job_id, lease_seconds=120))))
        assert (await call(rt, "DELETE", f"/v1/jobs/{job_id}"))[0] == 204
    clock.advance(700)  # past the expiry and the orphans' grace
    live = [await completed_job(rt) for _ in range(3)]
    return expired, live, orphans


async def assert_settled(rt: LocalRuntime, expired: list[JobRecord], live: list[JobRecord]) -> None:
    for record in expired:
        assert await rt.jobs.call(Get(job_id=record.job_id)) is None
    assert await keys(rt) == {j.audio_key for j in live}
    for record in live:
        status, audio = await call(rt, "GET", f"/v1/jobs/{record.job_id}/audio")
        assert status == 200 and audio[:4] == b"RIFF"


async def test_two_concurrent_runs_delete_nothing_twice_and_nothing_live(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        expired, live, orphans = await world(rt, clock)
        bucket_a, bucket_b = RecordingBucket(rt.bucket), RecordingBucket(rt.bucket)

        a, b = await asyncio.gather(run_reaper(deps_for(rt, bucket_a)), run_reaper(deps_for(rt, bucket_b)))

        assert sorted([a.lease_held, b.lease_held]) == [False, True]  # one worked, one stood aside
        assert not set(bucket_a.deleted) & set(bucket_b.deleted)
        assert a.deleted_jobs + b.deleted_jobs == len(expired)
        assert a.deleted_orphans + b.deleted_orphans == len(orphans)
        assert a.errors == [] and b.errors == []
        await assert_settled(rt, expired, live)


async def test_run_that_outlives_its_lease_stops_and_nothing_live_is_lost(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        expired, live, orphans = await world(rt, clock)
        other: dict[str, Any] = {}

        async def stall() -> None:
            # Run A hangs before its first delete; its lease runs out and run B does everything.
            if "b" not in other:
                clock.advance(LEASE_SECONDS + 1)
                other["b"] = await run_reaper(deps_for(rt, RecordingBucket(rt.bucket)))

        a = await run_reaper(deps_for(rt, RecordingBucket(rt.bucket, before_delete=stall)))

        b = other["b"]
        assert b.errors == [] and b.deleted_jobs == len(expired) and b.deleted_orphans == len(orphans)
        assert any("lost the reaper lease" in e for e in a.errors)  # A noticed and stopped
        await assert_settled(rt, expired, live)


class Killed(BaseException):
    """The isolate died: not an error any handler catches."""


async def test_run_killed_at_any_call_is_finished_by_the_next(tmp_path: Path) -> None:
    killed = 0
    for kill_at in range(1, 60, 4):
        clock = FakeClock()
        async with reaper_runtime(tmp_path / str(kill_at), clock) as rt:
            expired, live, orphans = await world(rt, clock)
            calls = {"n": 0}

            async def maybe_die(_: str = "") -> None:
                calls["n"] += 1
                if calls["n"] == kill_at:
                    raise Killed

            bucket = RecordingBucket(rt.bucket, before_delete=maybe_die)
            try:
                await run_reaper(deps_for(rt, bucket, before=maybe_die))
            except Killed:
                killed += 1
            for record in live:
                assert (await call(rt, "GET", f"/v1/jobs/{record.job_id}/audio"))[0] == 200

            clock.advance(LEASE_SECONDS + 1)  # the dead run's lease runs out
            report = await rt.scheduled()
            assert report["errors"] == [] and not report["leaseHeld"]
            await assert_settled(rt, expired, live)
    assert killed >= 8  # the kill landed in the purge, the repair and the sweep
