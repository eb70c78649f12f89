"""Queue delivery semantics on the real local runtime, in process, with a scripted provider."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_runtime.runtime import LocalRuntime
from shared.errors import TransientSynthesisError
from shared.http import HttpRequest
from shared.jobs.shard import Get
from shared.models import JobStatus, SynthesizeJob
from shared.synthesis.catalogue import Catalogue, ProviderRegistry, tone_spec
from tests.fakes import ScriptedSynthesizer

pytestmark = pytest.mark.slow


@pytest.fixture
def synth() -> ScriptedSynthesizer:
    return ScriptedSynthesizer(name="scripted")


@pytest.fixture
async def runtime(tmp_path: Path, synth: ScriptedSynthesizer) -> AsyncIterator[LocalRuntime]:
    spec = tone_spec().model_copy(update={"id": "scripted", "provider": "scripted"})
    catalogue = Catalogue([spec], registry=ProviderRegistry({"scripted": synth}), default_model="scripted")
    env = {"RETRY_BASE_SECONDS": "0", "QUEUE_MAX_RETRIES": "2", "QUEUE_MAX_BATCH_TIMEOUT": "0.05",
           "DEFAULT_MODEL": "scripted", "SYNTHESIS_CACHE": "off"}  # objects are counted per job
    rt = LocalRuntime(tmp_path, env, port=0, catalogue=catalogue, cron_interval=0, log_stream=io.StringIO())
    await rt.start()
    yield rt
    await rt.stop()


async def submit(rt: LocalRuntime, text: str = "hello") -> str:
    body = f'{{"text": "{text}"}}'.encode()
    reply = await rt.handle(HttpRequest.build("POST", "/v1/jobs", headers={"content-type": "application/json"}, body=body))
    assert reply.status == 202, reply.body
    import json

    return str(json.loads(reply.body)["jobId"])


async def wait_status(rt: LocalRuntime, job_id: str, *statuses: JobStatus, timeout: float = 10.0) -> JobStatus:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        job = await rt.jobs.call(Get(job_id=job_id))
        assert job is not None
        if job.status in statuses or loop.time() > deadline:
            return job.status
        await asyncio.sleep(0.02)


async def test_transient_failure_is_retried_then_succeeds(runtime: LocalRuntime, synth: ScriptedSynthesizer) -> None:
    synth.errors.append(TransientSynthesisError("provider 503"))
    job_id = await submit(runtime)
    assert await wait_status(runtime, job_id, JobStatus.COMPLETED, JobStatus.FAILED) is JobStatus.COMPLETED
    job = await runtime.jobs.call(Get(job_id=job_id))
    assert job is not None and job.attempts == 2 and len(synth.calls) == 2


async def test_retry_exhaustion_lands_in_dead_letter_queue_and_fails_job(
    runtime: LocalRuntime, synth: ScriptedSynthesizer
) -> None:
    synth.errors.extend(TransientSynthesisError(f"down {i}") for i in range(10))
    job_id = await submit(runtime)
    assert await wait_status(runtime, job_id, JobStatus.FAILED, JobStatus.COMPLETED) is JobStatus.FAILED
    job = await runtime.jobs.call(Get(job_id=job_id))
    assert job is not None
    assert job.attempts == 3  # first delivery + max_retries (2)
    assert "gave up after 3 attempts" in (job.error or "") and "down 2" in (job.error or "")


async def test_duplicate_message_synthesizes_once(runtime: LocalRuntime, synth: ScriptedSynthesizer) -> None:
    job_id = await submit(runtime)
    duplicate = SynthesizeJob(jobId=job_id, shard=runtime.jobs.shard_of(job_id)).model_dump()
    await runtime.queue.send(duplicate)
    await runtime.queue.send(duplicate)
    assert await wait_status(runtime, job_id, JobStatus.COMPLETED) is JobStatus.COMPLETED
    for _ in range(50):  # let the duplicates drain
        if runtime.queue.counts().get("ready", 0) == 0 and runtime.queue.counts().get("in_flight", 0) == 0:
            break
        await asyncio.sleep(0.05)
    assert len(synth.calls) == 1
    assert runtime.bucket.count() == 1
