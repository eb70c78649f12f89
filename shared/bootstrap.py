"""The one bootstrap: a runtime's ports in, the pipeline's dependencies out.

Both runtimes build a ``RuntimePorts`` from what they have (Cloudflare: a
Worker's ``env`` bindings, in ``cloudflare_adapters/wiring_*.py``; the local
runtime: its SQLite, file and queue bindings, in ``local_runtime/runtime.py``)
and hand it to ``Pipeline``. Everything decided about wiring is decided here,
once: which logger each part writes as, whether rate limiting is on, which
handler a queue's batches go to, that finished jobs are announced when a
webhook queue is bound, how the catalogue is made (once per ``Pipeline``).

A ``Pipeline`` builds each part on first use and keeps it: a Worker keeps its
``Pipeline`` for the isolate's life (no I/O object is kept in it: Durable
Object stubs are made per call, see ``cloudflare_adapters.durable_objects``).
Its imports are inside the properties so a Worker loads only the parts it
runs. No clock, randomness or I/O happens when this module is imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from shared.config import Settings
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger, LogBuffer
from shared.ports import BlobStore, Clock, HttpClient, IncomingMessage, QueueProducer

if TYPE_CHECKING:
    from shared.api.app import ApiApp
    from shared.consumer import ConsumerDeps
    from shared.delivery import DeliveryDeps, StreamUploader
    from shared.outcomes import BatchOutcome
    from shared.reaper import ReaperDeps, ReaperReport
    from shared.security.ratelimit import RateLimiter
    from shared.synthesis.catalogue import Catalogue
    from shared.webhooks import HostCheck, WebhookDeps, WebhookNotifier

# Queue names (wrangler.toml; the local runtime's queues): a consumer routes by them.
JOBS_QUEUE = "tts-jobs"
CHUNK_QUEUE = "tts-chunks"  # a long job's chunk tasks (shared/fanout.py); its dead letters go to DEAD_LETTER_QUEUE
DEAD_LETTER_QUEUE = "tts-jobs-dlq"
WEBHOOK_QUEUE = "tts-webhooks"
DEAD_LETTER_SUFFIX = "-dlq"
WEBHOOK_QUEUE_MARK = "webhooks"  # any queue named *webhooks*: deliveries, not synthesis
CHUNK_QUEUE_MARK = "chunks"  # any queue named *chunks* (not a dead-letter queue): long jobs are planned there


def _new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RuntimePorts:
    """What a runtime supplies: settings, bindings and platform services, nothing decided."""

    settings: Settings
    jobs: JobsClient
    bucket: BlobStore
    jobs_queue: QueueProducer
    clock: Clock
    # The model catalogue, made on first use by the parts that synthesize or offer models.
    catalogue: Callable[[], Catalogue] | None = None
    webhook_queue: QueueProducer | None = None  # TTS_WEBHOOKS: finished jobs are announced when set
    chunk_queue: QueueProducer | None = None  # TTS_CHUNKS: a long job's chunk tasks; None: the jobs queue
    webhook_http: HttpClient | None = None  # the client webhook deliveries go out through
    webhook_host_allowed: HostCheck | None = None  # a DNS re-check before delivery, where DNS exists
    # The PUT that streams a job's audio to its deliver.url (shared/delivery.py), on the webhook queue's consumer.
    delivery_uploader: StreamUploader | None = None
    # (limit, period seconds) -> the platform's limiter; None: the runtime has none bound.
    rate_limiter: Callable[[int, int], RateLimiter] | None = None
    new_job_id: Callable[[], str] = _new_job_id
    log_stream: TextIO | LogBuffer | None = field(default=None, repr=False)  # None: stdout
    log_flush_each: bool = True  # False where the runtime flushes its LogBuffer itself (local)
    health: Callable[[], list[dict[str, Any]]] | None = None  # failing background loops, for /healthz
    meter: Callable[[str, int], None] | None = None  # counts for the runtime's meter (local: /__meter)


class Pipeline:
    """The api, consumer, webhook and reaper dependencies of one runtime, each made once."""

    def __init__(self, ports: RuntimePorts) -> None:
        self.ports = ports
        self.settings = ports.settings

    def log(self, service: str) -> JsonLogger:
        return JsonLogger(service, self.ports.log_stream, flush_each=self.ports.log_flush_each)

    @cached_property
    def catalogue(self) -> Catalogue:
        if self.ports.catalogue is None:
            raise RuntimeError("this runtime's ports carry no model catalogue")
        return self.ports.catalogue()

    @cached_property
    def notifier(self) -> WebhookNotifier | None:
        from shared.webhooks import WebhookNotifier

        if self.ports.webhook_queue is None:
            return None
        return WebhookNotifier(self.ports.webhook_queue, self.ports.jobs)

    @cached_property
    def api(self) -> ApiApp:
        from shared.api.app import ApiApp
        from shared.api.deps import ApiDeps

        settings, ports = self.settings, self.ports
        limiter = None
        if ports.rate_limiter is not None and settings.job_rate_limit > 0:
            limiter = ports.rate_limiter(settings.job_rate_limit, settings.job_rate_period)
        return ApiApp(
            ApiDeps(
                settings=settings,
                jobs=ports.jobs,
                bucket=ports.bucket,
                queue=ports.jobs_queue,
                catalogue=self.catalogue,
                clock=ports.clock,
                new_job_id=ports.new_job_id,
                log=self.log("api"),
                rate_limiter=limiter,
                health=ports.health,
                meter=ports.meter,
            )
        )

    @cached_property
    def consumer(self) -> ConsumerDeps:
        from shared.consumer import ConsumerDeps

        return ConsumerDeps(
            jobs=self.ports.jobs,
            bucket=self.ports.bucket,
            synthesizer_for=self.catalogue.synthesizer_for,
            model_spec=self.catalogue.get,
            settings=self.settings,
            clock=self.ports.clock,
            log=self.log("synth_consumer"),
            webhooks=self.notifier,
            queue=self.ports.jobs_queue,
            chunk_queue=self.ports.chunk_queue,
            meter=self.ports.meter,
        )

    @cached_property
    def chunk_consumer(self) -> ConsumerDeps:
        """The consumer as the chunk queue's batches see it: a long job met there is planned there."""
        return replace(self.consumer, on_chunk_queue=True)

    @cached_property
    def webhooks(self) -> WebhookDeps:
        from shared.webhooks import WebhookDeps

        if self.ports.webhook_http is None:
            raise RuntimeError("this runtime's ports carry no HTTP client for webhook deliveries")
        return WebhookDeps(
            jobs=self.ports.jobs,
            http=self.ports.webhook_http,
            settings=self.settings,
            clock=self.ports.clock,
            log=self.log("synth_consumer"),
            host_allowed=self.ports.webhook_host_allowed,
        )

    @cached_property
    def delivery(self) -> DeliveryDeps:
        from shared.delivery import DeliveryDeps

        if self.ports.delivery_uploader is None:
            raise RuntimeError("this runtime's ports carry no uploader for deliveries")
        return DeliveryDeps(
            jobs=self.ports.jobs,
            bucket=self.ports.bucket,
            uploader=self.ports.delivery_uploader,
            settings=self.settings,
            clock=self.ports.clock,
            log=self.log("synth_consumer"),
            host_allowed=self.ports.webhook_host_allowed,
        )

    @cached_property
    def reaper(self) -> ReaperDeps:
        from shared.reaper import ReaperDeps

        return ReaperDeps(
            jobs=self.ports.jobs,
            bucket=self.ports.bucket,
            queue=self.ports.jobs_queue,
            settings=self.settings,
            clock=self.ports.clock,
            log=self.log("reaper"),
            webhooks=self.notifier,
        )

    async def queue_batch(self, queue_name: str, messages: list[IncomingMessage]) -> BatchOutcome:
        """One batch of a queue, routed by the queue's name: webhooks, dead letters or jobs. The webhook
        queue also carries deliveries to customers' buckets, routed by each message's ``kind``; the jobs
        and chunk queues share one handler, which tells a job message from a chunk task by its body (a
        task sent to either queue is handled on both) and plans a long job only on the chunk queue."""
        if WEBHOOK_QUEUE_MARK in queue_name:
            from shared.delivery import is_delivery, process_delivery_batch
            from shared.webhooks import process_webhook_batch

            started = self.ports.clock()
            deliveries = [m for m in messages if is_delivery(m.body)]
            outcome = await process_webhook_batch([m for m in messages if not is_delivery(m.body)], self.webhooks)
            if deliveries:
                delivered = await process_delivery_batch(deliveries, self.delivery, started=started)
                outcome.outcomes.update(delivered.outcomes)
            return outcome
        if queue_name.endswith(DEAD_LETTER_SUFFIX):
            from shared.consumer import process_dead_letters

            return await process_dead_letters(messages, self.consumer)
        from shared.consumer import process_batch

        on_chunks = CHUNK_QUEUE_MARK in queue_name
        return await process_batch(messages, self.chunk_consumer if on_chunks else self.consumer)

    async def scheduled(self) -> ReaperReport:
        """The reaper's cron run."""
        from shared.reaper import run_reaper

        return await run_reaper(self.reaper)
