"""The one bootstrap: a runtime's ports in, the pipeline's ``Dependencies`` out, and each role's entry.

Both runtimes call ``bootstrap`` with what they have (Cloudflare: a Worker's
``env`` bindings, in ``cloudflare_adapters/wiring_*.py``; the local runtime:
its SQLite, file and queue bindings, in ``local_runtime/runtime.py``), each
giving only the ports its role uses. Everything decided about wiring is
decided here, once: whether rate limiting is on, that finished jobs are
announced when a webhook queue is bound, that the catalogue is made once on
first use, which Worker each role logs as, and which handler a queue's
batches go to (``queue_batch``). ``api_app`` and ``cron_run`` are the api's
and the reaper's entries.

A Worker keeps its ``Dependencies`` (and its ``ApiApp``) for the isolate's life:
no I/O object is kept in them (Durable Object stubs are made per call, see
``cloudflare_adapters.durable_objects``). The role modules are imported inside
the functions so a Worker loads only the parts it runs. No clock, randomness
or I/O happens when this module is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TextIO

from shared.config import Settings
from shared.dependencies import Announcer, Dependencies, new_job_id
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger, LogBuffer
from shared.ports import BlobStore, Clock, HostCheck, HttpClient, IncomingMessage, QueueProducer, StreamUploader

if TYPE_CHECKING:
    from shared.api.app import ApiApp
    from shared.outcomes import BatchOutcome
    from shared.reaper import ReaperReport
    from shared.security.ratelimit import RateLimiter
    from shared.synthesis.catalogue import Catalogue

# Queue names (wrangler.toml; the local runtime's queues): a consumer routes by them.
JOBS_QUEUE = "tts-jobs"
CHUNK_QUEUE = "tts-chunks"  # a long job's plan, chunk tasks and assembly (shared/fanout.py); dead letters: DEAD_LETTER_QUEUE
DEAD_LETTER_QUEUE = "tts-jobs-dlq"
WEBHOOK_QUEUE = "tts-webhooks"
DEAD_LETTER_SUFFIX = "-dlq"
WEBHOOK_QUEUE_MARK = "webhooks"  # any queue named *webhooks*: deliveries, not synthesis
CHUNK_QUEUE_MARK = "chunks"  # any queue named *chunks* (not a dead-letter queue): long jobs are planned there

# The Worker each role logs as.
API = "api"
CONSUMER = "synth_consumer"
REAPER = "reaper"


def bootstrap(
    *,
    settings: Settings,
    jobs: JobsClient,
    bucket: BlobStore,
    queue: QueueProducer,
    clock: Clock,
    chunk_queue: QueueProducer | None = None,
    catalogue: Callable[[], Catalogue] | None = None,
    webhook_queue: QueueProducer | None = None,
    http: HttpClient | None = None,
    uploader: StreamUploader | None = None,
    host_allowed: HostCheck | None = None,
    rate_limiter: Callable[[int, int], RateLimiter] | None = None,
    new_job_id: Callable[[], str] = new_job_id,
    log_stream: TextIO | LogBuffer | None = None,
    log_flush_each: bool = True,
    health: Callable[[], list[dict[str, Any]]] | None = None,
    meter: Callable[[str, int], None] | None = None,
) -> Dependencies:
    """The pipeline's dependencies from a runtime's ports.

    ``chunk_queue`` is TTS_CHUNKS (a long job's work goes there when it is given; shared/fanout.py);
    ``catalogue`` makes the model catalogue (called once, on first use);
    ``webhook_queue`` is TTS_WEBHOOKS (finished jobs are announced when it is
    given); ``rate_limiter`` makes the platform's limiter from (limit, period
    seconds); ``log_stream`` None is stdout, and ``log_flush_each`` False is
    for a runtime that flushes its ``LogBuffer`` itself (local).
    """
    limiter = None
    if rate_limiter is not None and settings.job_rate_limit > 0:
        limiter = rate_limiter(settings.job_rate_limit, settings.job_rate_period)
    announcer: Announcer | None = None
    if webhook_queue is not None:
        from shared.webhooks import WebhookNotifier

        announcer = WebhookNotifier(webhook_queue, jobs)
    return Dependencies(
        settings=settings,
        jobs=jobs,
        bucket=bucket,
        queue=queue,
        clock=clock,
        log=JsonLogger("pipeline", log_stream, flush_each=log_flush_each),
        chunk_queue=chunk_queue,
        make_catalogue=_once(catalogue) if catalogue is not None else None,
        webhooks=announcer,
        http=http,
        uploader=uploader,
        host_allowed=host_allowed,
        rate_limiter=limiter,
        new_job_id=new_job_id,
        health=health,
        meter=meter,
    )


def _once(make: Callable[[], Catalogue]) -> Callable[[], Catalogue]:
    made: list[Catalogue] = []

    def catalogue() -> Catalogue:
        if not made:
            made.append(make())
        return made[0]

    return catalogue


def api_app(deps: Dependencies) -> ApiApp:
    """The HTTP API (the api Worker's ``fetch``); its runtime keeps it for the isolate's life."""
    from shared.api.app import ApiApp

    return ApiApp(deps.acting_as(API))


async def queue_batch(deps: Dependencies, queue_name: str, messages: list[IncomingMessage]) -> BatchOutcome:
    """One batch of a queue (the synth_consumer Worker's ``queue``), routed by the queue's name: webhooks,
    dead letters or jobs. The webhook queue also carries deliveries to customers' buckets, routed by each
    message's ``kind``; the jobs and chunk queues share one handler, which tells a job message from a chunk
    task by its body (either is done on either queue) and plans a long job only on the chunk queue."""
    deps = deps.acting_as(CONSUMER)
    if WEBHOOK_QUEUE_MARK in queue_name:
        from shared.delivery import is_delivery, process_delivery_batch
        from shared.webhooks import process_webhook_batch

        started = deps.clock()
        deliveries = [m for m in messages if is_delivery(m.body)]
        outcome = await process_webhook_batch([m for m in messages if not is_delivery(m.body)], deps)
        if deliveries:
            delivered = await process_delivery_batch(deliveries, deps, started=started)
            outcome.outcomes.update(delivered.outcomes)
        return outcome
    if queue_name.endswith(DEAD_LETTER_SUFFIX):
        from shared.consumer import process_dead_letters

        return await process_dead_letters(messages, deps)
    from shared.consumer import process_batch

    if CHUNK_QUEUE_MARK in queue_name:
        deps = replace(deps, on_chunk_queue=True)
    return await process_batch(messages, deps)


async def cron_run(deps: Dependencies) -> ReaperReport:
    """The reaper's cron run (the reaper Worker's ``scheduled``)."""
    from shared.reaper import run_reaper

    return await run_reaper(deps.acting_as(REAPER))
