"""Leases that follow the worker: a crash's redelivery never walks a job to the dead-letter queue.

The queue is modelled by hand with Cloudflare's rules (``max_retries`` 3:
four deliveries, then the dead-letter queue): a crash or a ``Retry`` uses up a
delivery. A "crash" is a delivery cancelled while it synthesizes (kill -9:
nothing after the claim runs, no settle).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io

import pytest

from shared.config import Settings
from shared.consumer import process_batch, process_dead_letters
from shared.dependencies import Dependencies
from shared.jobs.shard import Claim, Create, Get
from shared.jobs.sharding import shard_for
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Outcome, Retry
from shared.ports import IncomingMessage, SynthesisRequest, SynthesisResult
from tests.fakes import FakeClock, MemoryQueue, MemoryShards, ScriptedSynthesizer, bootstrap_test_app

JOB = "e" * 32
MAX_RETRIES = 3  # the queue's default: 1 + 3 deliveries


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: ScriptedSynthesizer) -> Dependencies:
    return bootstrap_test_app(  # the default settings: LEASE_SECONDS as shipped
        Settings(), clock=clock, shards=shards, queue=MemoryQueue(), synthesizer=synth, log_stream=io.StringIO()
    ).acting_as("synth_consumer")


async def queued(deps: Dependencies, clock: FakeClock, job_id: str = JOB) -> JobRecord:
    return await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=job_id, tenant="t", status=JobStatus.QUEUED, text="hello world", model="tone",
            format="wav", created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
        ),
        )
    )


def message(attempts: int = 1, msg_id: str = "m1", job_id: str = JOB) -> IncomingMessage:
    return IncomingMessage(id=msg_id, body={"v": 1, "jobId": job_id, "shard": shard_for(job_id, 2)}, attempts=attempts)


class Hang:
    """A synthesizer that never returns: the delivery is killed while it waits."""

    def __init__(self) -> None:
        self.started = asyncio.Event()

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def deliver(deps: Dependencies, msg: IncomingMessage, *, crash: bool) -> Outcome | None:
    """One delivery; with ``crash``, the process dies as soon as it synthesizes (None)."""
    if not crash:
        return (await process_batch([msg], deps)).outcomes[msg.id]
    normal, hang = deps.synthesizer_for, Hang()
    deps.synthesizer_for = lambda model: hang
    try:
        task = asyncio.ensure_future(process_batch([msg], deps))
        started = asyncio.ensure_future(hang.started.wait())
        await asyncio.wait({task, started}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():  # settled before synthesizing: not a crash
            started.cancel()
            return task.result().outcomes[msg.id]
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return None
    finally:
        deps.synthesizer_for = normal


async def run_queue(deps: Dependencies, clock: FakeClock, *, crashes: int, redelivery_after: float) -> list[str]:
    """Deliver m1 as the queue would, killing the first ``crashes`` deliveries that synthesize.

    A crashed delivery comes back ``redelivery_after`` seconds later (the
    visibility timeout locally; Cloudflare's retry of a failed invocation);
    a ``Retry`` after its delay. After MAX_RETRIES + 1 deliveries the message
    goes to the dead-letter queue, whose handler runs it once.
    """
    history: list[str] = []
    for attempts in range(1, MAX_RETRIES + 2):
        outcome = await deliver(deps, message(attempts=attempts), crash=crashes > 0)
        if outcome is None:
            crashes -= 1
            history.append("crash")
            clock.advance(redelivery_after)
            continue
        history.append(type(outcome).__name__)
        if isinstance(outcome, Ack):
            return history
        assert isinstance(outcome, Retry)
        clock.advance(outcome.delay_seconds)
    await process_dead_letters([message(msg_id="m1")], deps)
    history.append("dead_letter")
    return history


async def test_a_job_killed_twice_mid_synthesis_is_not_dead_lettered(deps: Dependencies, clock: FakeClock) -> None:
    # GIVEN a job whose message is redelivered 30 s after each crash (the local visibility timeout)
    await queued(deps, clock)
    # WHEN the worker is killed twice while it synthesizes the job
    history = await run_queue(deps, clock, crashes=2, redelivery_after=30)
    # THEN no redelivery burns a retry on a lease, and the job completes
    assert history == ["crash", "crash", "Ack"]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED, job


async def test_redelivery_sooner_than_the_lease_takes_the_job_over(deps: Dependencies, clock: FakeClock) -> None:
    # The crashed delivery's lease is still live when its message comes back: the
    # redelivery of the message that holds the lease knows its holder is gone.
    await queued(deps, clock)
    history = await run_queue(deps, clock, crashes=3, redelivery_after=1)
    assert history == ["crash", "crash", "crash", "Ack"]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.attempts == 4


async def test_crashes_alone_never_fail_a_job(deps: Dependencies, clock: FakeClock) -> None:
    # Four deliveries that all died with their Worker: the retry budget is gone, the job is not at fault.
    await queued(deps, clock)
    history = await run_queue(deps, clock, crashes=4, redelivery_after=30)
    assert history == ["crash"] * 4 + ["dead_letter"]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.PROCESSING and job.lapses == 3 and job.error is None
    assert deps.queue.sent == [(message().body, 0)]  # type: ignore[union-attr]  # re-sent, fresh budget


async def test_a_job_dead_lettered_while_its_dead_deliverys_lease_is_live_is_resent_at_once(
    deps: Dependencies, clock: FakeClock
) -> None:
    # GIVEN a job whose Worker was killed four times, each death followed at once by the message's
    # redelivery (a restarted local runtime), so when the message reaches the dead-letter queue the
    # lease of its last, dead delivery is still live
    await queued(deps, clock)
    history = await run_queue(deps, clock, crashes=4, redelivery_after=1)
    assert history == ["crash"] * 4 + ["dead_letter"]
    # THEN the handler takes that lease over from its own message's dead delivery (one more lapse)
    # and re-sends the job at once, not a lease (20 s) later
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and job.lapses == 4 and job.error is None, job
    assert deps.queue.sent == [(message().body, 0)]  # type: ignore[union-attr]
    # AND the re-sent message does the job at once
    assert (await process_batch([message(msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_a_dead_letter_leaves_a_live_lease_of_another_delivery_alone(deps: Dependencies, clock: FakeClock) -> None:
    # A live delivery of m2 holds the job while m1's dead letter is handled: m2 is not disturbed,
    # and the re-send looks again just past m2's lease.
    await queued(deps, clock)
    await deps.jobs.call(Claim(job_id=JOB, lease_seconds=deps.settings.lease_seconds, holder="m2"))
    await process_dead_letters([message(msg_id="m1")], deps)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.PROCESSING and job.lapses == 0
    assert deps.queue.sent == [(message().body, deps.settings.lease_seconds + 1)]  # type: ignore[union-attr]


async def test_a_poison_job_dead_lettered_under_its_dead_deliverys_lease_ends_failed(
    deps: Dependencies, clock: FakeClock
) -> None:
    deps.settings = dataclasses.replace(deps.settings, max_lapsed_claims=4)
    await queued(deps, clock)
    history = await run_queue(deps, clock, crashes=4, redelivery_after=1)
    assert history == ["crash"] * 4 + ["dead_letter"]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "poison" in (job.error or ""), job
    assert deps.queue.sent == []  # type: ignore[union-attr]


async def test_a_crash_loop_of_25_deaths_never_fails_a_job_with_the_shipped_defaults(
    deps: Dependencies, clock: FakeClock
) -> None:
    # A runtime killed 25 times in a row, every 0.2-1.2 s (the crash loop), with a job longer
    # than any of its lives in flight at each death: an innocent job meets as many deaths as a poison
    # one, so the poison bound must be above the deaths a crash loop deals out.
    await queued(deps, clock)
    for _ in range(26):  # the first claim, then 25 redeliveries each taking over a dead delivery's lease
        await deps.jobs.call(Claim(job_id=JOB, lease_seconds=deps.settings.lease_seconds, holder="m1"))
        clock.advance(1)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.lapses == 25
    await process_dead_letters([message(msg_id="m2")], deps)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is not JobStatus.FAILED, job.error
    assert deps.queue.sent  # type: ignore[union-attr]  # re-sent, to be done once the loop ends


async def test_a_job_that_kills_every_worker_ends_failed_as_poison(deps: Dependencies, clock: FakeClock) -> None:
    # The separate, larger bound of lapsed claims (here 3) ends a poison job, with a reason that says so.
    deps.settings = dataclasses.replace(deps.settings, max_lapsed_claims=3)
    await queued(deps, clock)
    history = await run_queue(deps, clock, crashes=4, redelivery_after=30)
    assert history == ["crash"] * 4 + ["dead_letter"]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "poison" in (job.error or ""), job
    assert deps.queue.sent == []  # type: ignore[union-attr]


async def test_a_duplicate_meeting_a_live_lease_is_acked_and_rechecked_later(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer
) -> None:
    # GIVEN a job held by a live delivery of m1
    await queued(deps, clock)
    await deps.jobs.call(Claim(job_id=JOB, lease_seconds=deps.settings.lease_seconds, holder="m1"))
    clock.advance(5)
    # WHEN another message for it arrives
    outcome = await process_batch([message(msg_id="m2")], deps)
    # THEN it uses no retry: acked, and re-sent to look again once the lease has lapsed
    assert outcome.outcomes == {"m2": Ack()}
    assert deps.queue.sent == [(message().body, deps.settings.lease_seconds - 5 + 1)]  # type: ignore[union-attr]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.PROCESSING and synth.calls == []
    # AND if m1's Worker died meanwhile, the re-sent message finds the lease lapsed and finishes the job
    clock.advance(deps.settings.lease_seconds)
    assert (await process_batch([message(msg_id="m3")], deps)).outcomes == {"m3": Ack()}
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_a_duplicate_whose_resend_fails_retries_when_the_lease_ends(deps: Dependencies, clock: FakeClock) -> None:
    await queued(deps, clock)
    await deps.jobs.call(Claim(job_id=JOB, lease_seconds=20, holder="m1"))
    deps.queue.fail_sends = 1  # type: ignore[attr-defined]  # tests.fakes.MemoryQueue
    assert (await process_batch([message(msg_id="m2")], deps)).outcomes == {"m2": Retry(21)}
    assert "lease_held_resend_failed" in deps.log._stream.getvalue()  # type: ignore[union-attr]


async def test_dead_letter_resends_a_job_whose_deliveries_died(deps: Dependencies, clock: FakeClock) -> None:
    # Killed four times while its message sat in a batch, never claimed: not the job's fault.
    await queued(deps, clock)
    outcome = await process_dead_letters([message(msg_id="d1")], deps)
    assert outcome.outcomes == {"d1": Ack()}
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.QUEUED  # type: ignore[union-attr]
    assert deps.queue.sent == [(message().body, 0)]  # type: ignore[union-attr]


async def test_dead_letter_resends_a_live_lease_to_its_end_instead_of_failing(
    deps: Dependencies, clock: FakeClock
) -> None:
    await queued(deps, clock)
    await deps.jobs.call(Claim(job_id=JOB, lease_seconds=20, holder="m9"))
    clock.advance(8)
    await process_dead_letters([message(msg_id="d1")], deps)
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.PROCESSING  # type: ignore[union-attr]
    assert deps.queue.sent == [(message().body, 13)]  # type: ignore[union-attr]


async def test_dead_letter_still_fails_a_job_whose_deliveries_failed(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer
) -> None:
    from shared.errors import TransientSynthesisError

    await queued(deps, clock)
    synth.errors.append(TransientSynthesisError("provider down"))
    await process_batch([message(attempts=4)], deps)
    await process_dead_letters([message(msg_id="d1")], deps)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "provider down" in (job.error or "")
    assert deps.queue.sent == []  # type: ignore[union-attr]


class Slow:
    """One-shot synthesis that takes ``seconds`` of real time, the fake clock moving with it."""

    def __init__(self, clock: FakeClock, seconds: float, steps: int = 16) -> None:
        self.clock, self.seconds, self.steps = clock, seconds, steps

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        for _ in range(self.steps):
            await asyncio.sleep(self.seconds / self.steps)
            self.clock.advance(self.seconds / self.steps)
        return SynthesisResult(audio=b"RIFF" + b"\0" * 100, mime_type="audio/wav", extension="wav")


async def test_one_shot_synthesis_renews_its_lease(
    deps: Dependencies, clock: FakeClock, shards: MemoryShards
) -> None:
    # GIVEN a 1 s lease (a heartbeat every 0.25 s) and a one-shot synthesis that takes 1.6 s
    deps.settings = Settings(lease_seconds=1)
    deps.synthesizer_for = lambda model: Slow(clock, 1.6)
    await queued(deps, clock)
    # WHEN it runs, a second delivery arriving after the first lease would have lapsed sees it live
    seen: list[str] = []

    async def duplicate() -> None:
        await asyncio.sleep(1.3)
        seen.append(type((await process_batch([message(msg_id="m2")], deps)).outcomes["m2"]).__name__)

    first, _ = await asyncio.gather(process_batch([message()], deps), duplicate())
    # THEN the heartbeat kept the lease ahead of the clock, and the job was synthesized once
    assert first.outcomes == {"m1": Ack()}
    assert sum(1 for _, method in shards.calls if method == "renewLease") >= 4
    assert seen == ["Ack"] and len(deps.queue.sent) == 1  # type: ignore[union-attr]
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_a_delivery_that_lost_its_lease_stops(deps: Dependencies, clock: FakeClock) -> None:
    # Its lease lapsed (a starved heartbeat) and another delivery took the job: the first stops.
    deps.settings = Settings(lease_seconds=1)
    deps.synthesizer_for = lambda model: Slow(clock, 1.0)
    await queued(deps, clock)

    async def take_over() -> None:
        await asyncio.sleep(0.1)
        clock.advance(5)  # m1's lease lapses between two beats
        await deps.jobs.call(Claim(job_id=JOB, lease_seconds=60, holder="m2"))

    first, _ = await asyncio.gather(process_batch([message()], deps), take_over())
    assert first.outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.PROCESSING and deps.bucket.objects == {}  # type: ignore[attr-defined]
