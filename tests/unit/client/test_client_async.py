"""The asyncio client against the local runtime as a real process on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.harness import Pipeline
from tts_client import ApiError, AsyncClient, JobStatus, JobView

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path_factory.mktemp("aclient")).start()  # anonymous: loopback, no API_TOKENS
    yield p
    p.stop()


async def test_concurrent_jobs_complete_and_their_audio_downloads(pipeline: Pipeline) -> None:
    async with AsyncClient(f"http://127.0.0.1:{pipeline.port}") as tts:
        jobs = await asyncio.gather(*(tts.submit(f"async job {i}", model="tone") for i in range(3)))
        done = await asyncio.gather(*(tts.wait(j.job_id, timeout=60) for j in jobs))

        assert [d.status for d in done] == [JobStatus.COMPLETED] * 3
        audio = await tts.audio_bytes(done[0])
        assert audio[:4] == b"RIFF" and len(audio) == done[0].size_bytes


async def test_on_update_may_be_a_coroutine(pipeline: Pipeline) -> None:
    seen: list[JobView] = []

    async def record(job: JobView) -> None:
        seen.append(job)

    async with AsyncClient(f"http://127.0.0.1:{pipeline.port}") as tts:
        job = await tts.submit("watch me", model="tone")
        done = await tts.wait(job.job_id, timeout=60, on_update=record)
    assert seen and seen[-1] == done


async def test_listing_models_and_deleting(pipeline: Pipeline) -> None:
    async with AsyncClient(f"http://127.0.0.1:{pipeline.port}") as tts:
        assert "tone" in [m.id for m in await tts.models()]
        job = await tts.submit("to delete", model="tone")
        assert job.job_id in [j.job_id async for j in tts.iter_jobs(page_size=1)]
        await tts.delete(job.job_id)
        with pytest.raises(ApiError) as caught:
            await tts.get(job.job_id)
    assert caught.value.status == 404
