"""Chunk tasks, deadlines and early settlement: a long job inside a consumer invocation's limits.

The queue is driven by hand (``drain``): every message sent is delivered in
order, each as its own one-message batch unless a test batches them.
Audio is real (``tone``) so the chunks can be joined; a slow provider is
modelled by a synthesizer that moves the fake clock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
from dataclasses import dataclass, field

import pytest

from shared.bootstrap import queue_batch
from shared.config import Settings
from shared.consumer import Invocation, process_batch, process_dead_letters, process_message
from shared.dependencies import Dependencies
from shared.errors import TransientSynthesisError
from shared.jobs.chunks import ChunkClaim, ChunkInfo
from shared.keys import chunk_key
from shared.synthesis.longform import plan_id
from shared.jobs.shard import Cancel, Create, Get
from shared.jobs.sharding import shard_for
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Outcome, Retry
from shared.ports import IncomingMessage, SynthesisRequest, SynthesisResult
from shared.synthesis.budget import Deadline, MemoryGate, call_timeout, chunk_audio_bytes, fitting_chunk_chars
from shared.synthesis.catalogue import ModelSpec, tone_spec
from shared.text.chunking import chunk_texts
from shared.synthesis.tone import ToneSynthesizer
from tests.fakes import FakeClock, MemoryQueue, MemoryShards, bootstrap_test_app

JOB = "f" * 32
TEXT = " ".join(f"Sentence number {i} is here." for i in range(12))  # about 330 characters
SPEC = tone_spec().model_copy(update={"max_input_chars": 60})


@dataclass
class SettlingMessage(IncomingMessage):
    """Records early settlement, as Cloudflare's ``message.ack()`` / ``retry()``."""

    settled: list[str] = field(default_factory=list)

    def ack(self) -> None:
        self.settled.append("ack")

    def retry(self, delay_seconds: int | None = None) -> None:
        self.settled.append(f"retry:{delay_seconds}")


@dataclass
class SlowTone:
    """Tone audio that takes ``seconds_per_char`` of the fake clock; errors scripted per call."""

    clock: FakeClock
    seconds_per_char: float = 0.0
    errors: list[Exception | None] = field(default_factory=list)
    calls: list[SynthesisRequest] = field(default_factory=list)
    name: str = "tone"

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.calls.append(request)
        self.clock.advance(len(request.text) * self.seconds_per_char)
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        return await ToneSynthesizer().synthesize(request)


@pytest.fixture
def synth(clock: FakeClock) -> SlowTone:
    return SlowTone(clock)


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: SlowTone) -> Dependencies:
    return bootstrap_test_app(
        Settings(), clock=clock, shards=shards, queue=MemoryQueue(), synthesizer=synth, spec=SPEC,
        log_stream=io.StringIO(),
    ).acting_as("synth_consumer")


async def create(deps: Dependencies, clock: FakeClock, text: str = TEXT) -> JobRecord:
    return await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant="t", status=JobStatus.QUEUED, text=text, model="tone", format="wav",
            created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
        ),
        )
    )


_ids = iter(range(1, 1_000_000))


def msg(body: dict, attempts: int = 1) -> SettlingMessage:
    return SettlingMessage(id=f"m{next(_ids)}", body=body, attempts=attempts)


def job_message() -> SettlingMessage:
    return msg({"v": 1, "jobId": JOB, "shard": shard_for(JOB, 2)})


async def drain(deps: Dependencies, first: list[IncomingMessage], *, limit: int = 200) -> list[tuple[dict, Outcome]]:
    """Deliver ``first``, then everything sent meanwhile, until the queue is empty."""
    queue = deps.queue
    assert isinstance(queue, MemoryQueue)
    pending: list[IncomingMessage] = list(first)
    seen: list[tuple[dict, Outcome]] = []
    while pending and len(seen) < limit:
        message = pending.pop(0)
        outcome = (await process_batch([message], deps)).outcomes[message.id]
        seen.append((message.body, outcome))  # type: ignore[arg-type]
        if isinstance(outcome, Retry):
            pending.append(msg(message.body, message.attempts + 1))  # type: ignore[arg-type]
        pending.extend(msg(body) for body, _ in queue.sent)  # type: ignore[arg-type]
        queue.sent.clear()
    return seen


async def fan(deps: Dependencies) -> list[dict]:
    """Deliver the job message; returns the chunk tasks it sent (left in the queue's record)."""
    first = job_message()
    assert (await process_batch([first], deps)).outcomes[first.id] == Ack()
    return [body for body, _ in deps.queue.sent]  # type: ignore[union-attr,misc]


async def test_a_long_job_fans_out_into_chunk_tasks_and_each_chunk_is_synthesized_once(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    await create(deps, clock)
    texts = chunk_texts(TEXT, SPEC.max_input_chars)
    assert len(texts) >= 5
    first = job_message()
    outcome = (await process_batch([first], deps)).outcomes[first.id]
    # The job message sends tasks and is acked at once, settled with the platform too.
    assert outcome == Ack() and first.settled == ["ack"]
    tasks = [body for body, _ in deps.queue.sent]  # type: ignore[union-attr]
    assert all(t["plan"] and t["chunks"] for t in tasks)
    assert sorted(i for t in tasks for i in t["chunks"]) == list(range(len(texts)))
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.PROCESSING and (job.progress_done, job.progress_total) == (0, len(texts))
    assert synth.calls == []
    # Draining the tasks synthesizes every chunk once; the last one sends the job message, which joins them.
    seen = await drain(deps, [msg(t) for t in tasks])
    deps.queue.sent.clear()  # type: ignore[union-attr]
    assert all(o == Ack() for _, o in seen)
    assert sorted(c.text for c in synth.calls) == sorted(texts)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.audio_key, job
    assert job.characters == sum(len(t) for t in texts)
    body = await deps.bucket.get(job.audio_key)
    assert body is not None and body.info.size == job.size_bytes


async def test_with_a_chunk_queue_bound_a_long_jobs_plan_tasks_and_assembly_all_go_there(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    chunks = MemoryQueue()
    deps = dataclasses.replace(deps, chunk_queue=chunks)
    on_chunks = dataclasses.replace(deps, on_chunk_queue=True)
    jobs = deps.queue
    assert isinstance(jobs, MemoryQueue)
    await create(deps, clock)
    texts = chunk_texts(TEXT, SPEC.max_input_chars)
    # Delivered on the jobs queue, the long job is handed over: released (queued, no error), its message
    # sent to the chunk queue, nothing synthesized or planned here.
    first = job_message()
    assert (await queue_batch(deps, "tts-jobs", [first])).outcomes[first.id] == Ack() and first.settled == ["ack"]
    assert jobs.sent == [] and chunks.sent == [(first.body, 0)] and synth.calls == []
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and job.error is None and job.progress_total == 0
    chunks.sent.clear()
    # On the chunk queue it is planned: every task goes to the chunk queue.
    planned = job_message()
    assert (await queue_batch(deps, "tts-chunks", [planned])).outcomes[planned.id] == Ack()
    assert jobs.sent == [] and sorted(i for body, _ in chunks.sent for i in body["chunks"]) == list(range(len(texts)))  # type: ignore[index,call-overload]
    tasks = [body for body, _ in chunks.sent]
    chunks.sent.clear()
    # A task stopped by its deadline is sent again to the chunk queue.
    late = Invocation(Deadline(clock() + 0.001, clock), MemoryGate(1 << 30))
    on_chunks.settings = dataclasses.replace(on_chunks.settings, model_speeds={"tone": 1.0})
    assert await process_message(msg(tasks[0]), on_chunks, late) == Ack()
    assert chunks.sent == [(tasks[0], 0)] and jobs.sent == []
    chunks.sent.clear()
    on_chunks.settings = dataclasses.replace(on_chunks.settings, model_speeds={})
    # A dead-lettered task whose deliveries died is sent again to the chunk queue.
    await process_dead_letters([msg(tasks[0])], on_chunks)
    assert chunks.sent == [(tasks[0], 0)] and jobs.sent == []
    chunks.sent.clear()
    # The tasks done, the last sends the job message (the assembly) to the chunk queue, which joins them.
    for task in tasks:
        assert (await process_batch([msg(task)], on_chunks)).outcomes
    assert jobs.sent == [] and [body for body, _ in chunks.sent] == [first.body]
    assert (await process_batch([msg(chunks.sent[0][0])], on_chunks)).outcomes  # type: ignore[arg-type]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and sorted(c.text for c in synth.calls) == sorted(texts)


async def test_a_short_job_stays_on_the_jobs_queue_with_a_chunk_queue_bound(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    chunks = MemoryQueue()
    deps = dataclasses.replace(deps, chunk_queue=chunks)
    await create(deps, clock, text="A short text.")
    first = job_message()
    assert (await process_batch([first], deps)).outcomes[first.id] == Ack()
    assert chunks.sent == [] and len(synth.calls) == 1
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED


async def test_a_chunk_task_that_arrives_on_the_jobs_queue_is_still_done(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    # Sent to the jobs queue by a build before the chunk queue (in flight during a deploy): the
    # jobs queue's handler tells a task by its body, whichever queue it came on (both queues'
    # batches go to process_batch: tests/unit/core/test_bootstrap.py).
    await create(deps, clock)
    tasks = await fan(deps)  # this deps has no chunk queue: the tasks went to the jobs queue
    deps.queue.sent.clear()  # type: ignore[union-attr]
    chunks = MemoryQueue()
    deps = dataclasses.replace(deps, chunk_queue=chunks)  # the build after the deploy, on the jobs queue
    seen = await drain(deps, [msg(t) for t in tasks])
    assert all(o == Ack() for _, o in seen)
    # The last task sent the assembly to the chunk queue, whose delivery joins the chunks.
    [(assembly, _)] = chunks.sent
    assert (await process_batch([msg(assembly)], dataclasses.replace(deps, on_chunk_queue=True))).outcomes  # type: ignore[arg-type]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED


async def test_a_task_never_starts_a_chunk_it_cannot_finish_before_its_deadline(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    # 60-character chunks at 1 s a character: 60 s each, with 100 s of wall time (90 s before the margin).
    deps.settings = dataclasses.replace(deps.settings, consumer_wall_seconds=100, model_speeds={"tone": 1.0})
    synth.seconds_per_char = 1.0
    await create(deps, clock)
    tasks = await fan(deps)
    assert all(len(t["chunks"]) == 1 for t in tasks)  # half an invocation holds no two chunks
    deps.queue.sent.clear()  # type: ignore[union-attr]
    # One batch of three tasks, worked one at a time: the first fits, the others do not.
    batch = [msg(t) for t in tasks[:3]]
    outcome = await process_batch(batch, deps, concurrency=1)
    assert [outcome.outcomes[m.id] for m in batch] == [Ack(), Ack(), Ack()]
    assert len(synth.calls) == 1
    # The two stopped by the deadline were sent again at once, using no attempt of their own.
    assert [(b["chunks"], delay) for b, delay in deps.queue.sent] == [(tasks[1]["chunks"], 0), (tasks[2]["chunks"], 0)]  # type: ignore[union-attr]
    # Every provider call's timeout followed its estimate, not a fixed 60 s.
    assert synth.calls[0].timeout_seconds is not None and synth.calls[0].timeout_seconds <= 90


async def test_a_job_message_stopped_by_its_deadline_is_resent_without_a_failure(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    deps.settings = dataclasses.replace(deps.settings, model_speeds={"tone": 1.0})
    await create(deps, clock, text="A short text of forty characters or so.")
    late = Invocation(Deadline(clock() + 5, clock), MemoryGate(1 << 30))  # 5 s left, the text needs 40
    message = job_message()
    assert await process_message(message, deps, late) == Ack()
    assert synth.calls == []
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and job.error is None
    assert deps.queue.sent == [(message.body, 0)]  # type: ignore[union-attr]
    # A fresh invocation then does it.
    await drain(deps, [msg(deps.queue.sent.pop()[0])])  # type: ignore[union-attr]
    assert (await deps.jobs.call(Get(job_id=JOB))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


async def test_a_transient_chunk_failure_retries_only_that_chunk(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    await create(deps, clock)
    texts = chunk_texts(TEXT, SPEC.max_input_chars)
    synth.errors = [TransientSynthesisError("provider said 500")]
    seen = await drain(deps, [job_message()])
    assert [o for _, o in seen].count(Retry(10)) == 1
    assert len(synth.calls) == len(texts) + 1  # the failed chunk once more, no other
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED


async def test_a_canceled_job_stops_its_tasks_before_they_pay_for_a_chunk(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    await create(deps, clock)
    tasks = await fan(deps)
    deps.queue.sent.clear()  # type: ignore[union-attr]
    await deps.jobs.call(Cancel(job_id=JOB))
    seen = await drain(deps, [msg(t) for t in tasks])
    assert all(o == Ack() for _, o in seen) and synth.calls == []


async def test_a_dead_lettered_task_fails_the_job_only_for_a_reported_failure(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    await create(deps, clock)
    task = (await fan(deps))[0]
    deps.queue.sent.clear()  # type: ignore[union-attr]
    # Deliveries that died (never reported): the dead-letter handler sends the task again.
    await process_dead_letters([msg(task)], deps)
    assert deps.queue.sent == [(task, 0)]  # type: ignore[union-attr]
    deps.queue.sent.clear()  # type: ignore[union-attr]
    # A reported failure: the job fails with the chunk's error.
    synth.errors = [TransientSynthesisError("rate limited")]
    assert isinstance(await process_message(msg(task), deps), Retry)
    await process_dead_letters([msg(task)], deps)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "rate limited" in (job.error or ""), job


async def test_each_message_is_settled_as_soon_as_it_is_done(deps: Dependencies, clock: FakeClock) -> None:
    # One message of the batch is stuck; the other is already acked with the platform meanwhile.
    await create(deps, clock, text="short")
    release = asyncio.Event()

    class Stuck:
        name = "tone"

        async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
            await release.wait()
            return await ToneSynthesizer().synthesize(request)

    deps.catalogue.synthesizer = Stuck()  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    stuck, poison = job_message(), msg({"not": "a job"})
    batch = asyncio.ensure_future(process_batch([stuck, poison], deps))
    for _ in range(20):
        await asyncio.sleep(0)
    assert poison.settled == ["ack"] and stuck.settled == [] and not batch.done()
    release.set()
    await batch
    assert stuck.settled == ["ack"]


def test_chunks_fit_an_invocation_in_time_and_memory() -> None:
    openai_like = ModelSpec(
        id="x/slow", provider="x", voices=["v"], default_voice="v", formats=["mp3", "wav"], default_format="mp3",
        sample_rates=[24000], default_sample_rate=24000, max_input_chars=40_000, chars_per_second=30,
    )
    # 900 s less a 60 s margin at 30 characters a second: 25,200 characters; memory allows fewer.
    chars = fitting_chunk_chars(openai_like, wall_seconds=900, memory_mb=128, speed=30)
    assert chars < 25_200
    assert chunk_audio_bytes(openai_like, chars) <= 128 * 1024 * 1024 * 0.75
    # With 30 s of wall time (27 before the margin) and a fast provider, the provider's own limit rules.
    assert fitting_chunk_chars(SPEC, wall_seconds=30, memory_mb=128, speed=5000) == SPEC.max_input_chars
    # A slow one: 27 s at 10 characters a second.
    assert fitting_chunk_chars(SPEC.model_copy(update={"max_input_chars": 4096}), wall_seconds=30, memory_mb=128, speed=10) == 270


async def test_the_memory_gate_holds_a_chunk_until_its_worst_case_fits() -> None:
    gate = MemoryGate(100)
    await gate.reserve(60)
    second = asyncio.ensure_future(gate.reserve(60))
    await asyncio.sleep(0)
    assert not second.done()
    await gate.release(60)
    await asyncio.wait_for(second, 1)
    assert gate.held == 60 and gate.peak == 60
    await gate.release(60)
    await gate.reserve(500)  # larger than the budget: let through alone
    assert gate.peak == 500


def test_a_short_chunk_of_a_slow_to_answer_provider_gets_a_latency_allowance(clock: FakeClock) -> None:
    # 14 characters at 30 a second is half a second of synthesis; a provider that takes 12 s to
    # answer must not time out (it did with twice the estimate plus 10 s).
    deadline = Deadline(clock() + 840, clock)
    assert call_timeout(14 / 30, deadline, 600) >= 60
    # Never past the deadline, never above the configured cap.
    assert call_timeout(500, Deadline(clock() + 27, clock), 600) == 27
    assert call_timeout(500, deadline, 300) == 300


async def test_a_task_resent_while_a_dead_deliverys_claim_on_its_chunk_is_live_still_gets_the_chunk_done(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    # A task's Worker was killed mid-synthesis, again and again, until the queue moved its message to
    # the dead-letter queue; the last dead delivery's claim on the chunk is still live (LEASE_SECONDS),
    # and the dead letter does not carry that delivery's message id (a queue that gives dead letters
    # new ids), so its handler cannot take the claim over.
    await create(deps, clock)
    tasks = await fan(deps)
    deps.queue.sent.clear()  # type: ignore[union-attr]
    task = tasks[0]
    for index in task["chunks"]:
        claim = await deps.jobs.call(ChunkClaim(job_id=JOB, plan=task["plan"], index=index, holder="m-killed",
                                            lease_seconds=deps.settings.lease_seconds, job_lease_seconds=900))
        assert claim["state"] == "claimed"
    # Its deliveries died without a report: the dead-letter handler sends the task again, a new message.
    await process_dead_letters([msg(task, attempts=4)], deps)
    [(resent, _)] = deps.queue.sent  # type: ignore[union-attr]
    deps.queue.sent.clear()  # type: ignore[union-attr]
    # The new message meets the dead delivery's live claim. No message of that delivery is left to
    # finish the chunk, so acking this one as well would strand the job: it is sent again, delayed
    # to just past the claim's lease, using no attempt.
    assert await process_message(msg(resent), deps) == Ack()
    [(again, delay)] = deps.queue.sent  # type: ignore[union-attr]
    deps.queue.sent.clear()  # type: ignore[union-attr]
    assert again["chunks"] == task["chunks"] and again["plan"] == task["plan"]
    assert deps.settings.lease_seconds < delay <= deps.settings.lease_seconds + 2
    assert synth.calls == []
    clock.advance(delay)
    await drain(deps, [msg(again)] + [msg(t) for t in tasks[1:]])
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED, job


async def test_a_dead_lettered_task_takes_its_own_dead_deliverys_claims_over_and_is_resent_at_once(
    deps: Dependencies, clock: FakeClock, synth: SlowTone
) -> None:
    # The same, with the dead letter keeping its message's id (the local queue does): the handler takes
    # the chunks over from that dead delivery (a lapse each) and the re-sent task does them at once.
    await create(deps, clock)
    tasks = await fan(deps)
    deps.queue.sent.clear()  # type: ignore[union-attr]
    task = tasks[0]
    dead = msg(task, attempts=4)
    for index in task["chunks"]:
        await deps.jobs.call(ChunkClaim(job_id=JOB, plan=task["plan"], index=index, holder=dead.id,
                                    lease_seconds=deps.settings.lease_seconds, job_lease_seconds=900))
    await process_dead_letters([dead], deps)
    assert deps.queue.sent == [(task, 0)]  # type: ignore[union-attr]
    deps.queue.sent.clear()  # type: ignore[union-attr]
    assert await process_message(msg(task), deps) == Ack()
    # Nothing deferred (every chunk was free): at most the assembly message once all are stored.
    assert [b for b, _ in deps.queue.sent if b.get("chunks")] == []  # type: ignore[union-attr]
    assert len(synth.calls) == len(task["chunks"])
    for index in task["chunks"]:
        info = await deps.jobs.call(ChunkInfo(job_id=JOB, index=index))
        assert info is not None and info["done"] and info["lapses"] == 1, info


async def test_a_redelivery_after_the_assembly_removes_the_chunks_a_kill_left_behind(
    deps: Dependencies, clock: FakeClock
) -> None:
    # The delivery that joined the chunks completed the job and was killed before it deleted them;
    # its message comes back and finds the job final: it deletes them now, not the reaper an hour later.
    await create(deps, clock)
    await drain(deps, [job_message()])
    job = await deps.jobs.call(Get(job_id=JOB, with_text=True))
    assert job is not None and job.status is JobStatus.COMPLETED and job.progress_total > 1
    plan = plan_id(job, chunk_texts(TEXT, SPEC.max_input_chars), SPEC.max_input_chars)
    left = [chunk_key(JOB, plan, i) for i in range(job.progress_total)]
    for key in left:
        await deps.bucket.put(key, b"x", content_type="audio/wav", custom_metadata={})
    assert await process_message(job_message(), deps) == Ack()
    listed = await deps.bucket.list(prefix=f"tmp/{JOB}/")
    assert [o.key for o in listed.objects] == []
