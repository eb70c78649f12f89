from __future__ import annotations

import io
import json

import pytest

from shared.config import Settings
from shared.consumer import process_batch, process_dead_letters
from shared.dependencies import Dependencies
from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.jobs.shard import Cancel, Claim, Create, Get
from shared.jobs.sharding import shard_for
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Retry, backoff_seconds
from shared.ports import IncomingMessage
from tests.fakes import FakeClock, MemoryShards, ScriptedSynthesizer, bootstrap_test_app

JOB = "c" * 32


@pytest.fixture
def logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: ScriptedSynthesizer, logs: io.StringIO) -> Dependencies:
    settings = Settings(retry_base_seconds=10, lease_seconds=120)
    return bootstrap_test_app(settings, clock=clock, shards=shards, synthesizer=synth, log_stream=logs)


async def queued(deps: Dependencies, clock: FakeClock, job_id: str = JOB) -> JobRecord:
    return await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="hello world", model="tone",
            format="wav", created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
        ),
        )
    )


def message(job_id: str = JOB, attempts: int = 1, msg_id: str = "m1") -> IncomingMessage:
    return IncomingMessage(id=msg_id, body={"v": 1, "jobId": job_id, "shard": shard_for(job_id, 2)}, attempts=attempts)


async def test_happy_path_stores_audio_then_completes(deps: Dependencies, clock: FakeClock) -> None:
    await queued(deps, clock)
    outcome = await process_batch([message()], deps)
    assert outcome.outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED
    stored = deps.bucket.objects[job.audio_key]  # type: ignore[attr-defined,index]
    assert stored.info.custom_metadata["jobId"] == JOB
    assert job.audio_key.startswith("audio/") and job.audio_key.endswith(f"/{JOB}.wav")  # type: ignore[union-attr]
    assert job.size_bytes == len(stored.data)


async def test_duplicate_delivery_synthesizes_once(deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer) -> None:
    await queued(deps, clock)
    outcome = await process_batch([message(msg_id="m1"), message(msg_id="m2")], deps)
    assert len(synth.calls) == 1
    # One completed it; the other either saw the live lease (retry later) or the completed job (ack).
    assert sorted(type(o).__name__ for o in outcome.outcomes.values()) in (["Ack", "Ack"], ["Ack", "Retry"])
    redelivered = await process_batch([message(msg_id="m3", attempts=2)], deps)
    assert redelivered.outcomes == {"m3": Ack()}
    assert len(synth.calls) == 1


async def test_transient_error_releases_job_and_retries_with_backoff(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer
) -> None:
    await queued(deps, clock)
    synth.errors.append(TransientSynthesisError("provider 503"))
    outcome = await process_batch([message(attempts=2)], deps)
    assert outcome.outcomes == {"m1": Retry(20)}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and "provider 503" in (job.error or "")
    assert (await process_batch([message(attempts=3)], deps)).outcomes == {"m1": Ack()}
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_retry_after_from_provider_wins(deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer) -> None:
    await queued(deps, clock)
    synth.errors.append(TransientSynthesisError("429", retry_after=7.2))
    assert (await process_batch([message()], deps)).outcomes == {"m1": Retry(8)}


async def test_permanent_error_fails_job_and_acks(deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer) -> None:
    await queued(deps, clock)
    synth.errors.append(PermanentSynthesisError("voice not found"))
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "voice not found" in (job.error or "")


async def test_put_failure_retries(deps: Dependencies, clock: FakeClock) -> None:
    await queued(deps, clock)
    deps.bucket.fail_puts = 1  # type: ignore[attr-defined]
    outcome = await process_batch([message()], deps)
    assert isinstance(outcome.outcomes["m1"], Retry)
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.QUEUED  # type: ignore[union-attr]


async def test_poison_message_is_acked_and_logged(deps: Dependencies, logs: io.StringIO) -> None:
    bad = IncomingMessage(id="p", body={"jobId": "../../etc"}, attempts=1)
    assert (await process_batch([bad], deps)).outcomes == {"p": Ack()}
    assert json.loads(logs.getvalue().splitlines()[-1])["event"] == "poison_message"


async def test_message_for_deleted_job_is_acked(deps: Dependencies) -> None:
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}


async def test_cancel_during_synthesis_leaves_no_audio(deps: Dependencies, clock: FakeClock) -> None:
    await queued(deps, clock)

    class CancelingSynth(ScriptedSynthesizer):
        async def synthesize(self, request):  # type: ignore[no-untyped-def]
            await deps.jobs.call(Cancel(job_id=JOB))
            return await super().synthesize(request)

    deps.synthesizer_for = lambda model: CancelingSynth()
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    assert deps.bucket.objects == {}  # type: ignore[attr-defined]
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.CANCELED  # type: ignore[union-attr]


async def test_crash_between_put_and_complete_is_finished_by_redelivery(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer
) -> None:
    await queued(deps, clock)
    await deps.jobs.call(
        Claim(job_id=JOB, lease_seconds=120)
    )  # the crashed delivery's claim; its put landed, complete never ran
    clock.advance(121)  # lease runs out; the queue redelivers
    assert (await process_batch([message(attempts=2)], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.attempts == 2


async def test_dead_letter_marks_job_failed_with_last_error(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer
) -> None:
    await queued(deps, clock)
    synth.errors.append(TransientSynthesisError("provider down"))
    await process_batch([message()], deps)
    outcome = await process_dead_letters([message(msg_id="d1")], deps)
    assert outcome.outcomes == {"d1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED
    assert "gave up after 1 attempts" in (job.error or "") and "provider down" in (job.error or "")


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff_seconds(a, 10) for a in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff_seconds(40, 10) == 86_400  # Cloudflare Queues: delaySeconds up to 24 h
