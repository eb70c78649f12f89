"""The synth consumer's batch logic: claim -> synthesize -> put to R2 -> complete.

Each message is acked or retried on its own (``BatchOutcome``); a malformed
message is acked and logged, never retried forever. The claims and
completions of a batch's jobs on one shard go as one request each, answered
job by job (shared/consumer_batching.py). Delivery is at least
once, so every step is idempotent: the claim's lease stops a duplicate
delivery from synthesizing twice, the R2 key is fixed per job, and
completing a completed job with the same key is a no-op.

Leases follow the worker (docs/reaper.md, "Leases"):

- a claim's lease is short (``LEASE_SECONDS``) and held by the queue
  message's id; while the delivery works (synthesis, one-shot or chunked,
  put, complete) a heartbeat renews it every quarter lease, so a dead
  Worker's lease lapses within ``LEASE_SECONDS``;
- the holder's own message delivered again takes the job over at once: the
  queue only redelivers a message once its earlier delivery is over;
- any other message that meets a live lease is acked and re-sent, delayed
  to the lease's end, so it re-checks then without using up a delivery
  (``retry()`` would: each one counts toward the dead-letter queue);
- the dead-letter handler fails a job only when a delivery reported a
  failure or the job's claims lapsed ``MAX_LAPSED_CLAIMS`` times (a job that
  kills every Worker that runs it); a job whose deliveries merely died
  (crashes) is re-sent with a fresh budget: crashes never fail a job.

Cloudflare's limits (shared/synthesis/budget.py, docs/cloudflare.md):

- each batch is one invocation with a deadline (``CONSUMER_WALL_SECONDS``
  less a margin); no provider call starts that would not finish before it,
  and a delivery stopped by it re-sends its message (no attempt used up);
- each message is settled with the platform as soon as its outcome is known
  (``message.ack()`` / ``retry()``), so an invocation cut off mid-batch
  redelivers only unfinished messages;
- a job whose text needs several chunks is fanned out: each chunk (or small
  group) is a task message of its own (shared/fanout.py), synthesized in
  parallel across invocations, joined by the job message once all are stored.

The synthesis cache (shared/synthesis/cache.py): a one-chunk job whose audio
is cached is completed from the entry (copied under the job's key) without a
provider call, and a one-chunk job synthesized here leaves its audio as an
entry; a long job's chunks are looked up and kept by the chunk synthesis
(shared/synthesis/longform.py). The counts go with the completion.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Coroutine, Sequence
from typing import Any

from pydantic import ValidationError

from shared.captions.location import timings_key_of
from shared.captions.store import store_timings
from shared.config import Settings
from shared.consumer_batching import BatchCalls, Slot, claim_window
from shared.consumer_steps import (
    Invocation,
    announce,
    cache_of,
    count,
    fail_quietly,
    resend_now,
    settle_now,
    spec_of,
)
from shared.dependencies import Dependencies
from shared.errors import (
    IllegalTransitionError,
    JobNotFoundError,
    LeaseHeldError,
    PermanentSynthesisError,
    TransientSynthesisError,
)
from shared.fanout import chunk_dead_letter, fan_out, hand_over, process_chunk_task
from shared.jobs.chunks import is_fanout_holder
from shared.jobs.shard import Claim, Complete, CompleteItem, Get, Release, RenewLease
from shared.keys import audio_key, object_metadata
from shared.models import JobRecord, JobStatus, SynthesizeJob
from shared.outcomes import Ack, BatchOutcome, Outcome, Retry, backoff_seconds
from shared.platform_limits import QUEUE_MAX_DELAY_SECONDS
from shared.ports import IncomingMessage, SynthesisResult
from shared.synthesis.budget import DeadlineReached
from shared.synthesis.cache import CHARACTERS_SAVED, keep_job_audio, reuse_job_audio
from shared.audio.formats import JOINABLE_FORMATS
from shared.synthesis.longform import discard_chunks, synthesize_job
from shared.synthesis.speech_plan import job_chunks

__all__ = ["Invocation", "dead_letter_action", "process_batch", "process_dead_letters", "process_message"]

# Messages of one batch worked on at once (their audio bounded by the invocation's memory gate).
BATCH_CONCURRENCY = 4


async def process_batch(
    messages: Sequence[IncomingMessage], deps: Dependencies, *, concurrency: int = BATCH_CONCURRENCY
) -> BatchOutcome:
    """One invocation: every message worked on (``concurrency`` at once) and settled as soon as it is done.

    The claims and completions of the batch's jobs go to their shards batched, one request
    per shard (shared/consumer_batching.py), a window of ``claim_window`` messages at a time."""
    invocation = Invocation.start(deps)
    gate = asyncio.Semaphore(concurrency)
    outcome = BatchOutcome()
    window = claim_window(deps.settings.max_text_chars, concurrency)
    for start in range(0, len(messages), window):
        part = messages[start : start + window]
        calls = BatchCalls(
            deps.jobs, [m.id for m in part], lease_seconds=deps.settings.lease_seconds,
            max_text_chars=deps.settings.max_text_chars,
        )

        async def one(message: IncomingMessage, calls: BatchCalls = calls) -> None:
            try:
                decided = await process_message(message, deps, invocation, gate=gate, calls=calls)
            finally:
                calls.settled(message.id)
            outcome.outcomes[message.id] = decided
            settle_now(message, decided)

        await asyncio.gather(*(one(m) for m in part))
    return outcome


async def process_message(
    message: IncomingMessage,
    deps: Dependencies,
    invocation: Invocation | None = None,
    *,
    gate: asyncio.Semaphore | None = None,
    calls: BatchCalls | None = None,
) -> Outcome:
    """One message: its synthesis (and a chunk task's) under ``gate``; its claim and completion
    through ``calls`` (its batch's requests) when given, else a request each."""
    log = deps.log
    invocation = invocation or Invocation.start(deps)
    try:
        command = SynthesizeJob.model_validate(message.body)
    except ValidationError as exc:
        log.error("poison_message", messageId=message.id, error=str(exc.errors()[:3]))
        return Ack()
    if command.chunks is not None:
        if calls is not None:
            calls.settled(message.id)  # a chunk task claims chunks, not the job
        if command.plan is None:
            log.error("poison_message", messageId=message.id, error="a chunk task without its plan")
            return Ack()
        slot = Slot(gate)
        await slot.take()
        try:
            return await process_chunk_task(command, message, deps, invocation)
        finally:
            slot.give_back()
    job_id = command.jobId
    try:
        if calls is None:
            record = await deps.jobs.call(
                Claim(job_id=job_id, lease_seconds=deps.settings.lease_seconds, holder=message.id)
            )
        else:
            record = await calls.claim(message.id, job_id, message.id)
    except JobNotFoundError:
        log.info("job_gone", jobId=job_id, messageId=message.id)
        return Ack()
    except LeaseHeldError as exc:
        return await _defer(deps, command, message, exc)
    if record.status.is_terminal:
        log.info("already_final", jobId=job_id, status=record.status.value, messageId=message.id)
        if record.progress_total > 1:
            # A job of several chunks: the delivery that finished it may have died before deleting them.
            await discard_chunks(deps.bucket, record, deps.model_spec)
        return await announce(deps, record, message)
    slot = Slot(gate)
    try:
        return await _with_heartbeat(
            deps, record, message, _work(record, command, message, deps, invocation, slot, calls)
        )
    finally:
        slot.give_back()


async def _defer(deps: Dependencies, command: SynthesizeJob, message: IncomingMessage, exc: LeaseHeldError) -> Outcome:
    """Another delivery holds a live lease on the job: look again when it lapses.

    The holder's own message is still in the queue's hands (it is acked once
    the job is final, retried after a release, or redelivered if its Worker
    dies), so this duplicate is not needed to finish the job; it is re-sent
    delayed to the lease's end as a guard, which costs no delivery of the
    job's retry budget (``retry()`` would).
    """
    wait = min(max(1, math.ceil(exc.lease_until - deps.clock()) + 1), QUEUE_MAX_DELAY_SECONDS)
    fields = {"jobId": command.jobId, "messageId": message.id, "holder": exc.holder, "recheckIn": wait}
    try:
        await deps.queue.send(command.body(), delay_seconds=wait)
    except Exception as send_error:
        deps.log.warning("lease_held_resend_failed", error=str(send_error), **fields)
        return Retry(wait)
    deps.log.info("lease_held_deferred", **fields)
    return Ack()


async def _with_heartbeat(
    deps: Dependencies, record: JobRecord, message: IncomingMessage, work: Coroutine[Any, Any, Outcome]
) -> Outcome:
    """Run ``work`` while renewing the job's lease every quarter lease.

    If another delivery has taken the lease (ours lapsed, or our message was
    delivered again), the work is stopped: the job is someone else's now.
    Once the work hands the lease to the job's chunk plan (fanned out), the
    beat stops and the work finishes sending its tasks.
    """
    lease = deps.settings.lease_seconds
    interval = lease / 4
    task = asyncio.ensure_future(work)
    started = asyncio.get_running_loop().time()
    beating = True
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=interval)
            if done:
                return task.result()
            if not beating or asyncio.get_running_loop().time() - started > deps.settings.consumer_wall_seconds:
                continue  # handed to the plan, or let the lease lapse: a delivery this long is stuck
            try:
                await deps.jobs.call(RenewLease(job_id=record.job_id, holder=message.id, lease_seconds=lease))
            except LeaseHeldError as exc:
                if is_fanout_holder(exc.holder):
                    beating = False
                    continue
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                deps.log.warning("lease_lost", jobId=record.job_id, messageId=message.id, holder=exc.holder)
                return Ack()
            except JobNotFoundError:
                continue  # deleted: the work finds out when it completes
            except Exception as exc:  # a missed beat; the lease outlives three of them
                deps.log.warning("heartbeat_failed", jobId=record.job_id, messageId=message.id, error=str(exc))
    finally:
        if not task.done():  # our delivery itself is being cancelled
            task.cancel()


async def _work(
    record: JobRecord, command: SynthesizeJob, message: IncomingMessage, deps: Dependencies, invocation: Invocation,
    slot: Slot, calls: BatchCalls | None,
) -> Outcome:
    await slot.take()
    log = deps.log
    job_id = record.job_id
    spec = spec_of(deps, record.model)
    try:  # SSML or lexicons: the rendering's requests (shared/synthesis/speech_plan.py); else the text's chunks
        texts = (await job_chunks(record, spec, deps.jobs)).texts
    except PermanentSynthesisError as exc:
        failed = await fail_quietly(deps, job_id, f"synthesis failed: {exc}")
        log.warning("job_failed", jobId=job_id, messageId=message.id, error=str(exc))
        return await announce(deps, failed, message)
    cache = cache_of(deps, record, spec)
    if cache is not None and len(texts) == 1:  # a one-chunk job made before: its audio, no provider call
        try:
            reused = await reuse_job_audio(deps.bucket, cache, texts[0])
        except Exception as exc:  # a read that failed costs a provider call, not the job
            log.warning("cache_read_failed", jobId=job_id, messageId=message.id, error=str(exc))
            reused = None
        if reused is not None:
            return await _store_and_complete(record, reused, message, deps, chunks_total=1)
    if (
        len(texts) > 1 and spec is not None and deps.settings.chunk_fanout
        and record.format in JOINABLE_FORMATS
    ):
        if deps.chunk_queue is not None and not deps.on_chunk_queue:
            return await hand_over(deps, command, message)  # planned on the chunk queue (shared/fanout.py)
        fanned = await fan_out(record, command, message, deps, texts, spec)
        if fanned is not None:
            return fanned
        # Every chunk is stored: assemble them below (synthesize_job finds them all in R2).
    try:
        result = await synthesize_job(
            record, deps.synthesizer_for(record.model), spec, jobs=deps.jobs, bucket=deps.bucket,
            settings=deps.settings, log=deps.log, pacer=invocation.pacer(deps, spec), cache=cache,
        )
    except DeadlineReached as exc:
        # Not started: the next invocation does it (chunks stored so far are kept and resumed).
        try:
            await deps.jobs.call(Release(job_id=job_id, error=""))
        except (JobNotFoundError, IllegalTransitionError):
            return Ack()
        log.info("deadline_stop", jobId=job_id, messageId=message.id, reason=str(exc))
        return await resend_now(deps, command, message, "deadline")
    except PermanentSynthesisError as exc:
        failed = await fail_quietly(deps, job_id, f"synthesis failed: {exc}")
        log.warning("job_failed", jobId=job_id, messageId=message.id, error=str(exc))
        await discard_chunks(deps.bucket, record, deps.model_spec)
        return await announce(deps, failed, message)
    except Exception as exc:  # transient by default: a retry may succeed
        retry_after = exc.retry_after if isinstance(exc, TransientSynthesisError) else None
        delay = backoff_seconds(message.attempts, deps.settings.retry_base_seconds, retry_after)
        error = f"attempt {message.attempts} failed: {type(exc).__name__}: {exc}"
        try:
            await deps.jobs.call(Release(job_id=job_id, error=error[:2000]))
        except (JobNotFoundError, IllegalTransitionError):
            return Ack()
        log.warning("job_retry", jobId=job_id, messageId=message.id, attempts=message.attempts, delay=delay, error=error)
        return Retry(delay)

    if cache is not None and len(texts) == 1 and result.stored is None:
        try:
            await keep_job_audio(deps.bucket, cache, texts[0], result)
        except Exception as exc:  # the job is fine without it; the next one pays again
            log.warning("cache_write_failed", jobId=job_id, messageId=message.id, error=str(exc))
    return await _store_and_complete(
        record, result, message, deps, slot, calls, chunks_total=len(texts) if cache else None
    )


async def _store_and_complete(
    record: JobRecord, result: SynthesisResult, message: IncomingMessage, deps: Dependencies,
    slot: Slot | None = None, calls: BatchCalls | None = None, *, chunks_total: int | None = None,
) -> Outcome:
    """Put the audio under the job's key (unless assembled there) and complete the job; ``chunks_total``:
    the job used the synthesis cache (its counts are recorded with the completion)."""
    job_id = record.job_id
    key = audio_key(job_id, record.created_at, result.extension)
    try:
        if record.timestamps or record.input_count:  # before the audio and the completion: it has its timings
            spec = spec_of(deps, record.model)
            await store_timings(deps.bucket, record, result, spec, object_metadata(record, deps.clock()))
        if result.stored is not None:  # assembled from its chunks, already under its key
            info = result.stored
            key = info.key
        else:
            info = await deps.bucket.put(
                key,
                result.audio,
                content_type=result.mime_type,
                custom_metadata=object_metadata(record, deps.clock()),
            )
    except Exception as exc:
        delay = backoff_seconds(message.attempts, deps.settings.retry_base_seconds)
        await deps.jobs.call(Release(job_id=job_id, error=f"storing audio failed: {exc}"[:2000]))
        deps.log.warning("put_failed", jobId=job_id, messageId=message.id, error=str(exc), delay=delay)
        return Retry(delay)
    if slot is not None:
        slot.give_back()  # the work is done; the completion may wait for its batch's request
    done = CompleteItem(
        job_id=job_id,
        audio_key=key,
        mime_type=result.mime_type,
        size_bytes=info.size,
        etag=info.etag,
        characters=result.characters if chunks_total is not None else (result.characters or len(record.text)),
        cache=[result.chunks_reused, chunks_total, result.characters_saved] if chunks_total is not None else None,
    )
    try:
        if calls is None:
            completed = await deps.jobs.call(Complete(**done.model_dump()))
        else:
            completed = await calls.complete(message.id, done)
    except (JobNotFoundError, IllegalTransitionError) as exc:
        # Canceled or deleted while we synthesized: the audio has no owner.
        await deps.bucket.delete([k for k in (key, timings_key_of(record)) if k])
        deps.log.info("completed_after_cancel", jobId=job_id, messageId=message.id, reason=str(exc))
        return Ack()
    deps.log.info(
        "job_completed", jobId=job_id, messageId=message.id, sizeBytes=info.size, key=key,
        savedChars=result.characters_saved,
    )
    count(deps, CHARACTERS_SAVED, result.characters_saved if result.chunks_reused else 0)
    await discard_chunks(deps.bucket, record, deps.model_spec)
    return await announce(deps, completed, message)


async def process_dead_letters(messages: Sequence[IncomingMessage], deps: Dependencies) -> BatchOutcome:
    """Messages that exhausted their retries: fail their jobs, or re-send the ones whose
    deliveries died rather than failed (``dead_letter_action``); ack them all."""
    outcome = BatchOutcome()
    for message in messages:
        outcome.outcomes[message.id] = Ack()
        try:
            command = SynthesizeJob.model_validate(message.body)
        except ValidationError:
            deps.log.error("poison_dead_letter", messageId=message.id)
            continue
        if command.chunks is not None:
            try:
                await chunk_dead_letter(command, message, deps)
            except Exception as exc:
                deps.log.warning("dead_letter_failed", jobId=command.jobId, messageId=message.id, error=str(exc))
                outcome.outcomes[message.id] = Retry(backoff_seconds(message.attempts, deps.settings.retry_base_seconds))
            continue
        record = await deps.jobs.call(Get(job_id=command.jobId))  # None when deleted
        if record is None or record.status.is_terminal:
            await announce(deps, record, message)  # a DLQ message is acked either way
            continue
        now = deps.clock()
        live = record.status is JobStatus.PROCESSING and (record.lease_until or 0) > now
        if live and dead_letter_action(record, now, deps.settings) == "resend":
            record = await _take_over_from_dead_delivery(deps, record, message)
            if record.status.is_terminal:
                await announce(deps, record, message)
                continue
            live = record.status is JobStatus.PROCESSING and (record.lease_until or 0) > now
        if dead_letter_action(record, now, deps.settings) == "resend":
            delay = min(math.ceil((record.lease_until or now) - now) + 1, QUEUE_MAX_DELAY_SECONDS) if live else 0
            try:
                await deps.queue.send(command.body(), delay_seconds=delay)
            except Exception as exc:
                deps.log.warning("dead_letter_resend_failed", jobId=command.jobId, messageId=message.id, error=str(exc))
                outcome.outcomes[message.id] = Retry(backoff_seconds(message.attempts, deps.settings.retry_base_seconds))
                continue
            deps.log.warning(
                "dead_letter_resent", jobId=command.jobId, messageId=message.id, status=record.status.value,
                attempts=record.attempts, delay=delay,
            )
            continue
        failed = await fail_quietly(deps, command.jobId, _dead_letter_reason(record, deps.settings))
        deps.log.warning("job_dead_lettered", jobId=command.jobId, messageId=message.id, attempts=record.attempts)
        await announce(deps, failed, message)
    return outcome


def _dead_letter_reason(record: JobRecord, settings: Settings) -> str:
    if record.lapses >= settings.max_lapsed_claims:
        return f"its Worker died {record.lapses} times running it; given up as a poison job"
    return f"gave up after {record.attempts} attempts" + (f"; last error: {record.error}" if record.error else "")


async def _take_over_from_dead_delivery(deps: Dependencies, record: JobRecord, message: IncomingMessage) -> JobRecord:
    """A live lease on a job whose message was dead-lettered: if that message's own (dead) delivery
    holds it, hand the job back to ``queued`` now, so the re-sent message claims it at once instead
    of a lease later. Taking the claim over counts the lapse, as a redelivery's would. A lease held by
    another delivery (or a dead letter that does not keep its message's id) is left to run out."""
    try:
        taken = await deps.jobs.call(
            Claim(job_id=record.job_id, lease_seconds=deps.settings.lease_seconds, holder=message.id)
        )
    except LeaseHeldError:
        return record
    if taken.status is not JobStatus.PROCESSING:
        return taken
    if taken.lapses >= deps.settings.max_lapsed_claims:
        return taken  # failed as poison by the caller
    released = await deps.jobs.call(Release(job_id=record.job_id, error=""))
    deps.log.info("dead_letter_took_over", jobId=record.job_id, messageId=message.id, lapses=taken.lapses)
    return released


def dead_letter_action(record: JobRecord, now: float, settings: Settings) -> str:
    """``fail`` or ``resend`` for an unfinished job whose message exhausted its retries.

    A job handed back to ``queued`` with an error was failed by its last
    delivery (a transient error, retried until the budget ran out): fail it.
    Otherwise its deliveries died (the Worker crashed or was killed while the
    message was in its batch, each death costing a delivery) and nothing says
    the job itself is at fault: re-send it, unless its claims lapsed
    ``max_lapsed_claims`` times (a job that kills every Worker that runs it)
    or it is older than ``reaper_give_up_seconds``. A delivery stopped by its
    deadline hands the job back without an error: never a failure.
    """
    if record.status is JobStatus.QUEUED and record.error:
        return "fail"
    if record.lapses >= settings.max_lapsed_claims:
        return "fail"
    if record.created_at <= now - settings.reaper_give_up_seconds:
        return "fail"
    return "resend"
