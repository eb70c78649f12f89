"""Retention on the local runtime: expiry, the purge's order, dry run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shared.jobs.rpc import JobsClient
from shared.jobs.shard import Claim, Get
from shared.models import JobStatus
from shared.ports import JsonValue
from shared.reaper import run_reaper
from tests.fakes import FakeClock
from tests.integration.reaper_support import (
    call,
    completed_job,
    drain,
    keys,
    put_like_consumer,
    reaper_runtime,
    submit,
)


async def test_job_with_short_ttl_expires_for_the_client_then_the_reaper_removes_it(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        short = await completed_job(rt, ttlSeconds=60)
        long = await completed_job(rt)  # the default TTL, an hour
        assert (await call(rt, "GET", f"/v1/jobs/{short.job_id}"))[0] == 200
        assert (await call(rt, "GET", f"/v1/jobs/{short.job_id}/audio"))[0] == 200

        clock.advance(61)
        # Gone for the client before the reaper has run: status, audio and legacy result.
        for path in ("", "/audio", "/result"):
            status, body = await call(rt, "GET", f"/v1/jobs/{short.job_id}{path}")
            assert status == 404 and body["error"]["code"] == "not_found"
        assert short.audio_key in await keys(rt)

        report = await rt.scheduled()
        assert report["expiredJobs"] == 1 and report["deletedJobs"] == 1 and report["deletedObjects"] == 1
        assert report["errors"] == []
        assert await rt.jobs.call(Get(job_id=short.job_id)) is None
        assert await keys(rt) == {long.audio_key}
        status, audio = await call(rt, "GET", f"/v1/jobs/{long.job_id}/audio")
        assert status == 200 and audio[:4] == b"RIFF"


async def test_ttl_is_capped_by_the_configured_maximum(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock, MAX_TTL_SECONDS="120") as rt:
        record = await completed_job(rt, ttlSeconds=86_400)
        assert record.expires_at == record.completed_at + 120


class FailingDeletes:
    """A shard stub whose ``delete`` RPC dies: the crash between the audio and the rows."""

    def __init__(self, inner: object) -> None:
        self._inner = inner

    async def call(self, method: str, payload: dict[str, JsonValue]) -> object:
        if method == "delete":
            raise ConnectionError("killed before the rows were deleted")
        return await self._inner.call(method, payload)  # type: ignore[attr-defined]


async def test_crash_between_deleting_audio_and_rows_is_finished_by_the_next_run(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock) as rt:
        expired = [await completed_job(rt, ttlSeconds=60) for _ in range(6)]
        live = await completed_job(rt)
        clock.advance(120)

        crashing = JobsClient(lambda name: FailingDeletes(rt.shards.stub(name)), rt.settings.shard_count)
        first = await run_reaper(replace(rt.deps.acting_as("reaper"), jobs=crashing))
        assert first.errors and first.deleted_jobs == 0
        # The audio went first; the rows are still there, and the API still says 404.
        assert await keys(rt) == {live.audio_key}
        for record in expired:
            assert await rt.jobs.call(Get(job_id=record.job_id)) is not None
            assert (await call(rt, "GET", f"/v1/jobs/{record.job_id}"))[0] == 404

        clock.advance(120)  # past the crashed run's lease
        second = await rt.scheduled()
        assert second["errors"] == [] and second["deletedJobs"] == len(expired)
        for record in expired:
            assert await rt.jobs.call(Get(job_id=record.job_id)) is None
        assert await keys(rt) == {live.audio_key}
        assert (await call(rt, "GET", f"/v1/jobs/{live.job_id}/audio"))[0] == 200


async def test_dry_run_reports_everything_and_deletes_nothing(tmp_path: Path) -> None:
    clock = FakeClock()
    async with reaper_runtime(tmp_path, clock, REAPER_DRY_RUN="true") as rt:
        expired = await completed_job(rt, ttlSeconds=60)
        live = await completed_job(rt)
        crashed = await rt.jobs.call(
            Claim(job_id=await submit(rt), lease_seconds=120)
        )  # claimed, then the consumer died...
        orphan = await put_like_consumer(rt, crashed)  # ...after writing its audio
        await call(rt, "DELETE", f"/v1/jobs/{crashed.job_id}")  # and the client deleted the job
        lost = await submit(rt)
        await drain(rt, lose=True)  # its message is lost
        clock.advance(3000)  # past the grace and the stuck window, within the live job's hour
        before = await keys(rt)

        report = await rt.scheduled()

        assert report["dryRun"] is True
        assert report["expiredJobs"] == 1 and report["deletedObjects"] == 1 and report["deletedJobs"] == 1
        assert report["orphanObjects"] == 1 and report["stuckJobs"] == 1 and report["resentJobs"] == 1
        assert await keys(rt) == before == {expired.audio_key, live.audio_key, orphan}
        assert await rt.jobs.call(Get(job_id=expired.job_id)) is not None
        lost_record = await rt.jobs.call(Get(job_id=lost))
        assert lost_record is not None and lost_record.status is JobStatus.QUEUED
        assert rt.queue.ready_count() == 0  # nothing re-sent
        assert report["calls"]["delete"] == 0 and report["calls"]["send"] == 0
        # A dry run saves no cursor and takes no lease: a real run right after works normally.
        assert report["cursor"] is None
