"""Chunk tasks: a long job's chunks synthesized in parallel, each in a queue message of its own.

A job whose text needs several provider requests is not synthesized inside
the one delivery of its job message (a slow provider would not finish in a
consumer invocation's 15 minutes). Instead:

1. **Fan out.** The delivery that claims the job writes its chunk plan to
   the job's shard (``JobsClient.plan_chunks``: chunks already in R2 count
   as done) and sends one *chunk task* per group of pending chunks
   (``SynthesizeJob`` with ``plan`` and ``chunks``; as many chunks a task as
   half an invocation holds at the model's declared speed, at most
   ``MOST_CHUNKS_PER_TASK``), then acks. The job's lease now belongs to the
   plan and is renewed by every chunk claimed or stored.
2. **Chunk tasks**, spread by the queue over consumer invocations: for each
   of its chunks a task claims it (``claim_chunk``: a chunk is synthesized by
   one delivery at a time, and never again once stored), synthesizes it if
   it fits before the invocation's deadline, stores audio and timings under
   ``tmp/<jobId>/<plan>/`` and records it (``chunk_stored``). A task that
   meets its deadline re-sends the rest of its chunks (no attempt used up)
   and acks; a failed provider call hands the chunk back and retries. A
   chunk another delivery holds is sent again delayed to just past that
   lease (the holder's message may be gone: dead-lettered after its
   deliveries died, and re-sent as the very task that met the lease).
3. **Assembly.** The task that stores the last chunk sends the job message
   again; its delivery claims the job, finds every chunk stored and joins
   them (shared/synthesis/longform.py: streamed R2 multipart, resumable).

The queues: a long job's work goes on the chunk queue (``tts-chunks``,
``queue_for``) when one is bound, and a short job's on the jobs queue
(``tts-jobs``), so each gets the batch window it wants: the jobs queue
delivers a lone job at once, the chunk queue waits to fill a batch. The
delivery that first finds a job long on the jobs queue hands it over
(``hand_over``: the job released as a deadline stop releases it, and its
message sent to the chunk queue), so its plan, its tasks and its assembly
are all delivered there. The handler tells a task from a job message by its
body, not by its queue: a task or a long job on the jobs queue (sent by a
build before the chunk queue) is done as before.

With the synthesis cache (shared/synthesis/cache.py) a chunk lives under its
cache entry instead of ``tmp/``: the fan-out counts cached chunks as stored
(none planned at all when every chunk is cached: the job is joined at once),
and a task looks its chunk up again before paying for it.

Progress, cancel (a task stops at its next claim), ``?stream=1`` (chunks are
read from R2 as they appear), captions, webhooks and the reaper see it as
any other job. A lost message is found by the reaper: the plan's lease
lapses, the job message is sent again and re-sends the chunks not stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from shared.captions.chunks import ChunkTimings
from shared.consumer_steps import (
    MOST_CHUNKS_PER_TASK,
    Invocation,
    announce,
    cache_of,
    fail_quietly,
    queue_for,
    resend_now,
    spec_of,
)
from shared.dependencies import Dependencies
from shared.errors import IllegalTransitionError, JobNotFoundError, PermanentSynthesisError, TransientSynthesisError
from shared.jobs.chunks import ChunkClaim, ChunkInfo, ChunkPlan, ChunkRelease, ChunkStored
from shared.jobs.shard import Get, Release
from shared.models import JobRecord, JobStatus, SynthesizeJob
from shared.outcomes import Ack, Outcome, Retry, backoff_seconds
from shared.platform_limits import QUEUE_MAX_DELAY_SECONDS, QUEUE_SEND_BATCH_MAX_MESSAGES
from shared.ports import IncomingMessage
from shared.synthesis.budget import DeadlineReached, chunks_per_task
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.longform import chunk_home, chunk_source, discard_chunks, plan_id, stored_chunks, synthesize_chunk
from shared.synthesis.speech_plan import cached_job_chunks, job_chunks

if TYPE_CHECKING:
    from shared.text.plan import Chunk as PlannedChunk
    from shared.synthesis.cache import JobCache


def fanout_lease_seconds(deps: Dependencies) -> float:
    """How long a plan's lease lasts without a chunk claimed or stored: one invocation's wall time."""
    return float(deps.settings.consumer_wall_seconds)


async def fan_out(
    record: JobRecord, command: SynthesizeJob, message: IncomingMessage, deps: Dependencies, texts: list[str],
    spec: ModelSpec,
) -> Outcome | None:
    """Send the job's pending chunks as tasks; None when every chunk is stored (assemble now)."""
    job_id = record.job_id
    limit = spec.max_input_chars
    plan = plan_id(record, texts, limit)
    stored = set(await stored_chunks(deps.bucket, job_id, plan))
    cache = cache_of(deps, record, spec)
    if cache is not None:  # chunks the synthesis cache has count as stored (the assembly reads them there)
        synthesizer = deps.synthesizer_for(record.model)
        source_format = chunk_source(record, synthesizer).format
        requests = cached_job_chunks(record, spec) if record.inputs else None  # plain text: no I/O
        for index, text in enumerate(texts):
            if index not in stored:
                home_record: JobRecord = record
                home_cache: JobCache | None = cache
                if requests is not None:  # a multi-input job's chunk: its own voice, no cache with a gap
                    home_record = requests.chunk_record(record, index)
                    home_cache = requests.chunk_cache(cache, index, source_format)
                if home_cache is None:
                    continue
                home = chunk_home(home_record, synthesizer, plan, index, text, home_cache)
                found = await home_cache.find(deps.bucket, home)
                if found is not None and found.layout is not None:
                    stored.add(index)
        if len(stored) >= len(texts):
            return None  # every chunk is cached: joined now, no plan written (its rows would only be dropped)
    current, pending = await deps.jobs.call(
        ChunkPlan(
            job_id=job_id,
            plan=plan,
            total=len(texts),
            holder=message.id,
            stored=[i for i in stored if i < len(texts)],
            lease_seconds=fanout_lease_seconds(deps),
        )
    )
    if current.status is not JobStatus.PROCESSING:
        deps.log.info("fanout_stopped", jobId=job_id, status=current.status.value)
        return Ack()
    if not pending:
        return None
    longest = max(len(texts[i]) for i in pending)
    per_task = chunks_per_task(
        deps.speeds.estimate_seconds(spec, longest, deps.settings.model_speeds),
        deps.settings.consumer_wall_seconds, MOST_CHUNKS_PER_TASK,
    )
    base = command.model_copy(update={"plan": plan})
    tasks = [base.task_of(pending[i : i + per_task]) for i in range(0, len(pending), per_task)]
    bodies = [task.body() for task in tasks]
    queue = queue_for(deps, tasks[0])
    try:
        for start in range(0, len(bodies), QUEUE_SEND_BATCH_MAX_MESSAGES):
            await queue.send_batch(bodies[start : start + QUEUE_SEND_BATCH_MAX_MESSAGES])
    except Exception as exc:
        # Tasks sent before the failure are harmless duplicates of the next fan-out's.
        error = f"sending chunk tasks failed: {type(exc).__name__}: {exc}"
        await deps.jobs.call(Release(job_id=job_id, error=error[:2000]))
        deps.log.warning("fanout_failed", jobId=job_id, messageId=message.id, error=error)
        return Retry(backoff_seconds(message.attempts, deps.settings.retry_base_seconds))
    deps.log.info(
        "chunks_fanned_out", jobId=job_id, plan=plan, total=len(texts), pending=len(pending), tasks=len(bodies),
        perTask=per_task,
    )
    return Ack()


async def process_chunk_task(
    command: SynthesizeJob, message: IncomingMessage, deps: Dependencies, invocation: Invocation
) -> Outcome:
    """Synthesize and store the chunks a task carries (see the module doc)."""
    assert command.plan is not None and command.chunks is not None
    job_id, plan = command.jobId, command.plan
    record = await deps.jobs.call(Get(job_id=job_id, with_text=True))
    if record is None or record.status is not JobStatus.PROCESSING:
        deps.log.info("chunk_task_stopped", jobId=job_id, status=record.status.value if record else "deleted")
        return Ack()
    spec = spec_of(deps, record.model)
    if spec is None:
        return Ack()
    try:  # SSML or lexicons: the rendering's requests (shared/synthesis/speech_plan.py); else the text's chunks
        chunks = await job_chunks(record, spec, deps.jobs)
    except PermanentSynthesisError as exc:
        failed = await fail_quietly(deps, job_id, f"synthesis failed: {exc}")
        await discard_chunks(deps.bucket, record, deps.model_spec)
        return await announce(deps, failed, message)
    texts = chunks.texts
    if plan_id(record, texts, spec.max_input_chars) != plan:
        deps.log.info("chunk_task_stale", jobId=job_id, plan=plan)  # the job was planned again since
        return Ack()
    synthesizer = deps.synthesizer_for(record.model)
    pacer = invocation.pacer(deps, spec)
    timings = (
        ChunkTimings(deps.bucket, record, plan, texts, spec.max_input_chars, chunks.timing_offsets())
        if record.timestamps else None
    )
    lease, job_lease = float(deps.settings.lease_seconds), fanout_lease_seconds(deps)
    cache = cache_of(deps, record, spec)
    source_format = chunk_source(record, synthesizer).format
    all_done = False
    held: dict[int, float] = {}  # chunk -> the live lease another delivery holds on it
    for position, index in enumerate(command.chunks):
        if index >= len(texts):
            continue
        text = texts[index]
        planned = chunks.planned(index)  # a rendered job's chunk: ``text`` is its key
        if not pacer.fits(len(planned.text) if planned is not None else len(text)):
            rest = command.task_of(command.chunks[position:])
            return await resend_now(deps, rest, message, "deadline")
        claim = await deps.jobs.call(
            ChunkClaim(
                job_id=job_id,
                plan=plan,
                index=index,
                holder=message.id,
                lease_seconds=lease,
                job_lease_seconds=job_lease,
            )
        )
        state = claim["state"]
        if state == "stopped":
            deps.log.info("chunk_task_stopped", jobId=job_id, status=claim.get("status"))
            return Ack()
        if state == "done":
            all_done = int(claim.get("done", 0)) >= int(claim.get("total", 1))
            continue
        if state == "held":
            held[index] = float(claim.get("leaseUntil") or 0)
            continue
        if claim.get("lapses", 0) >= deps.settings.max_lapsed_claims:
            failed = await fail_quietly(
                deps, job_id, f"chunk {index}: its Worker died {claim['lapses']} times synthesizing it"
            )
            await discard_chunks(deps.bucket, record, deps.model_spec)
            return await announce(deps, failed, message)

        async def store(index: int = index, text: str = text, planned: PlannedChunk | None = planned) -> int:
            _, _, _, characters, _ = await synthesize_chunk(
                chunks.chunk_record(record, index), synthesizer, deps.bucket, plan, index, len(texts), text, timings,
                pacer, planned, cache=chunks.chunk_cache(cache, index, source_format), trail_ms=chunks.trail_ms(index),
            )
            return characters

        async def renew(index: int = index) -> bool:
            answer = await deps.jobs.call(
                ChunkClaim(
                    job_id=job_id,
                    plan=plan,
                    index=index,
                    holder=message.id,
                    lease_seconds=lease,
                    job_lease_seconds=job_lease,
                    renew=True,
                )
            )
            return bool(answer["state"] == "claimed")

        try:
            characters = await with_renewal(store(), renew, lease / 4, deps, job_id, message.id)
        except DeadlineReached:
            await deps.jobs.call(ChunkRelease(job_id=job_id, plan=plan, index=index, holder=message.id, error=None))
            return await resend_now(deps, command.task_of(command.chunks[position:]), message, "deadline")
        except ClaimLost:
            continue
        except PermanentSynthesisError as exc:
            failed = await fail_quietly(deps, job_id, f"synthesis failed: chunk {index}: {exc}")
            deps.log.warning("job_failed", jobId=job_id, messageId=message.id, chunk=index, error=str(exc))
            await discard_chunks(deps.bucket, record, deps.model_spec)
            return await announce(deps, failed, message)
        except Exception as exc:  # transient by default: a retry may succeed
            retry_after = exc.retry_after if isinstance(exc, TransientSynthesisError) else None
            delay = backoff_seconds(message.attempts, deps.settings.retry_base_seconds, retry_after)
            error = f"chunk {index}, attempt {message.attempts}: {type(exc).__name__}: {exc}"
            await deps.jobs.call(
                ChunkRelease(job_id=job_id, plan=plan, index=index, holder=message.id, error=error[:2000])
            )
            deps.log.warning("chunk_retry", jobId=job_id, messageId=message.id, chunk=index, delay=delay, error=error)
            return Retry(delay)
        stored = await deps.jobs.call(
            ChunkStored(job_id=job_id, plan=plan, index=index, characters=characters, job_lease_seconds=job_lease)
        )
        if stored["state"] == "stopped":
            return Ack()  # canceled meanwhile: the chunks are discarded with the job
        all_done = int(stored["done"]) >= int(stored["total"])
    if held:
        deferred = await _defer_held(deps, command, message, held)
        if deferred is not None:
            return deferred
    if all_done:
        return await _send_assembly(deps, command, message)
    return Ack()


async def _defer_held(
    deps: Dependencies, command: SynthesizeJob, message: IncomingMessage, held: dict[int, float]
) -> Outcome | None:
    """Chunks another delivery holds: send them again, delayed to just past the latest lease.

    The holder's own message may be gone (moved to the dead-letter queue after
    its deliveries died, and re-sent by the handler as this very message), so
    acking these chunks would leave nobody to finish them. The delayed task
    finds each done, still held (sent again) or lapsed (claims it), and costs
    no attempt of the retry budget. None when sent; else the retry to use."""
    assert command.plan is not None
    wait = min(max(1, math.ceil(max(held.values()) - deps.clock()) + 1), QUEUE_MAX_DELAY_SECONDS)
    rest = command.task_of(sorted(held))
    fields = {"jobId": command.jobId, "messageId": message.id, "chunks": sorted(held), "recheckIn": wait}
    try:
        await queue_for(deps, rest).send(rest.body(), delay_seconds=wait)
    except Exception as exc:
        deps.log.warning("chunk_held_resend_failed", error=str(exc), **fields)
        return Retry(wait)
    deps.log.info("chunk_held_deferred", **fields)
    return None


async def _send_assembly(deps: Dependencies, command: SynthesizeJob, message: IncomingMessage) -> Outcome:
    """Every chunk is stored: send the job message, whose delivery joins them."""
    job = SynthesizeJob(jobId=command.jobId, shard=command.shard)
    try:  # the long job's assembly: on the chunk queue too
        await queue_for(deps, job, long_job=True).send(job.body())
    except Exception as exc:
        deps.log.warning("assembly_send_failed", jobId=command.jobId, messageId=message.id, error=str(exc))
        return Retry(backoff_seconds(message.attempts, deps.settings.retry_base_seconds))
    deps.log.info("chunks_all_stored", jobId=command.jobId, messageId=message.id)
    return Ack()


async def hand_over(deps: Dependencies, command: SynthesizeJob, message: IncomingMessage) -> Outcome:
    """A long job delivered on the jobs queue: release it (back to queued, no error, as a deadline stop
    does) and send its message to the chunk queue, where it is planned. If the send fails the message is
    retried here (the job is queued, so its redelivery claims it again)."""
    assert deps.chunk_queue is not None
    try:
        await deps.jobs.call(Release(job_id=command.jobId, error=""))
    except (JobNotFoundError, IllegalTransitionError):
        return Ack()  # deleted or canceled meanwhile
    try:
        await deps.chunk_queue.send(command.body())
    except Exception as exc:
        deps.log.warning("hand_over_failed", jobId=command.jobId, messageId=message.id, error=str(exc))
        return Retry(backoff_seconds(message.attempts, deps.settings.retry_base_seconds))
    deps.log.info("long_job_handed_over", jobId=command.jobId, messageId=message.id)
    return Ack()


class ClaimLost(Exception):
    """Another delivery took the chunk while this one worked on it."""


async def with_renewal(
    work: Awaitable[int], renew: Callable[[], Awaitable[bool]], interval: float, deps: Dependencies, job_id: str,
    message_id: str,
) -> int:
    """Run ``work`` while renewing its claim every ``interval``; ``ClaimLost`` if another delivery took it."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            try:
                if not await renew():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                    deps.log.warning("chunk_lost", jobId=job_id, messageId=message_id)
                    raise ClaimLost()
            except ClaimLost:
                raise
            except Exception as exc:  # a missed beat; the lease outlives three of them
                deps.log.warning("heartbeat_failed", jobId=job_id, messageId=message_id, error=str(exc))
    finally:
        if not task.done():
            task.cancel()


async def chunk_dead_letter(command: SynthesizeJob, message: IncomingMessage, deps: Dependencies) -> None:
    """A chunk task that exhausted its retries: fail the job if a delivery reported a failure, or a
    chunk's Worker died ``max_lapsed_claims`` times; else (its deliveries died) send the task again."""
    assert command.chunks is not None
    record = await deps.jobs.call(Get(job_id=command.jobId, with_text=True))
    if record is None or record.status is not JobStatus.PROCESSING:
        return
    for index in command.chunks:
        info = await deps.jobs.call(ChunkInfo(job_id=command.jobId, index=index))
        if info is None or info["done"] or info["plan"] != command.plan:
            continue
        info = await _take_chunk_over_from_dead_delivery(deps, command, message, index) or info
        reason = None
        if info["failures"]:
            reason = f"chunk {index} gave up after {info['claims']} attempts; last error: {info['error']}"
        elif info["lapses"] >= deps.settings.max_lapsed_claims:
            reason = f"chunk {index}: its Worker died {info['lapses']} times synthesizing it"
        elif record.created_at <= deps.clock() - deps.settings.reaper_give_up_seconds:
            reason = f"not finished {deps.settings.reaper_give_up_seconds}s after creation"
        if reason is not None:
            failed = await fail_quietly(deps, command.jobId, reason)
            deps.log.warning("job_dead_lettered", jobId=command.jobId, messageId=message.id, chunk=index)
            await discard_chunks(deps.bucket, record, deps.model_spec)
            await announce(deps, failed, message)
            return
    await queue_for(deps, command).send(command.body())
    deps.log.warning("dead_letter_resent", jobId=command.jobId, messageId=message.id, chunks=command.chunks)


async def _take_chunk_over_from_dead_delivery(
    deps: Dependencies, command: SynthesizeJob, message: IncomingMessage, index: int
) -> dict[str, Any] | None:
    """Hand back chunk ``index`` if this dead-lettered message's own (dead) delivery holds it, so the
    task sent again claims it at once instead of a lease later; taking the claim over counts its lapse.
    A chunk another delivery holds is left alone (the re-sent task defers it). Returns the chunk's row
    after, or None when it was not taken."""
    assert command.plan is not None
    claim = await deps.jobs.call(
        ChunkClaim(
            job_id=command.jobId, plan=command.plan, index=index, holder=message.id,
            lease_seconds=deps.settings.lease_seconds, job_lease_seconds=fanout_lease_seconds(deps),
        )
    )
    if claim["state"] != "claimed":
        return None
    await deps.jobs.call(ChunkRelease(job_id=command.jobId, plan=command.plan, index=index, holder=message.id))
    return await deps.jobs.call(ChunkInfo(job_id=command.jobId, index=index))
