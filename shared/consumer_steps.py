"""What the synth consumer's handlers share: one invocation's budget, and the small steps of settling.

``Invocation`` is one queue consumer invocation: its deadline (the wall
time minus a margin, shared/synthesis/budget.py) and its memory gate, made
when the batch arrives. The rest are the small steps both the job
messages (shared/consumer.py) and the chunk tasks (shared/fanout.py) take,
on the pipeline's ``Dependencies`` (shared/dependencies.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.dependencies import Dependencies
from shared.errors import IllegalTransitionError, JobNotFoundError
from shared.jobs.shard import Fail
from shared.models import JobRecord, SynthesizeJob
from shared.outcomes import Ack, Outcome, Retry, backoff_seconds
from shared.ports import IncomingMessage, QueueProducer
from shared.synthesis.budget import Deadline, MemoryGate, Pacer, audio_budget_bytes
from shared.synthesis.cache import JobCache, job_cache
from shared.synthesis.catalogue import ModelSpec

# How many chunks one chunk task may carry at most (fewer when they are slow: budget.chunks_per_task).
MOST_CHUNKS_PER_TASK = 8


@dataclass
class Invocation:
    """One queue consumer invocation: when it must stop starting work, and its audio memory."""

    deadline: Deadline
    memory: MemoryGate

    @classmethod
    def start(cls, deps: Dependencies) -> Invocation:
        settings = deps.settings
        return cls(
            Deadline.starting_now(deps.clock, settings.consumer_wall_seconds),
            MemoryGate(audio_budget_bytes(settings.worker_memory_mb)),
        )

    def pacer(self, deps: Dependencies, spec: ModelSpec | None) -> Pacer:
        settings = deps.settings
        return Pacer(
            deadline=self.deadline,
            spec=spec,
            speeds=deps.speeds,
            overrides=settings.model_speeds,
            wall_seconds=settings.consumer_wall_seconds,
            cap_seconds=settings.provider_timeout_seconds,
            memory=self.memory,
        )


def queue_for(deps: Dependencies, command: SynthesizeJob, *, long_job: bool = False) -> QueueProducer:
    """Where ``command`` is sent: a chunk task, or the job message of a job known to be long (its plan,
    its assembly), to the chunk queue when one is bound; any other job message to the jobs queue."""
    if (command.chunks is not None or long_job) and deps.chunk_queue is not None:
        return deps.chunk_queue
    return deps.queue


def spec_of(deps: Dependencies, model: str) -> ModelSpec | None:
    return deps.model_spec(model)


def cache_of(deps: Dependencies, record: JobRecord, spec: ModelSpec | None) -> JobCache | None:
    """The job's synthesis cache for this delivery (None: the job skips it; shared/synthesis/cache.py)."""
    return job_cache(
        record, spec.provider if spec is not None else None, deps.clock, float(deps.settings.consumer_wall_seconds)
    )


def count(deps: Dependencies, name: str, n: int) -> None:
    """Tell the runtime's meter (the local runtime's ``/__meter``; none on Cloudflare) about ``n`` of ``name``."""
    if deps.meter is not None and n:
        deps.meter(name, n)


def settle_now(message: IncomingMessage, outcome: Outcome) -> None:
    """Settle ``message`` with the platform at once (it stays settled if the invocation is cut off later)."""
    if isinstance(outcome, Retry):
        message.retry(outcome.delay_seconds)
    elif isinstance(outcome, Ack):
        message.ack()


async def resend_now(deps: Dependencies, command: SynthesizeJob, message: IncomingMessage, reason: str) -> Outcome:
    """Send ``command`` again at once and ack this delivery: the work goes on in a fresh invocation,
    without using up an attempt of the message's retry budget (``retry()`` would)."""
    fields = {"jobId": command.jobId, "messageId": message.id, "chunks": command.chunks, "reason": reason}
    try:
        await queue_for(deps, command).send(command.body())
    except Exception as exc:
        deps.log.warning("resend_failed", error=str(exc), **fields)
        return Retry(0)
    deps.log.info("resent", **fields)
    return Ack()


async def announce(deps: Dependencies, record: JobRecord | None, message: IncomingMessage) -> Outcome:
    """Hand a final job to its webhook; if that fails, retry the message (the job
    is final, so the redelivery only announces it again)."""
    if deps.webhooks is None or record is None:
        return Ack()
    try:
        await deps.webhooks.job_finished(record)
    except Exception as exc:
        delay = backoff_seconds(message.attempts, deps.settings.retry_base_seconds)
        deps.log.warning("webhook_enqueue_failed", jobId=record.job_id, messageId=message.id, error=str(exc))
        return Retry(delay)
    return Ack()


async def fail_quietly(deps: Dependencies, job_id: str, error: str) -> JobRecord | None:
    try:
        return await deps.jobs.call(Fail(job_id=job_id, error=error))
    except (JobNotFoundError, IllegalTransitionError):
        return None  # deleted or canceled meanwhile: nothing to mark
