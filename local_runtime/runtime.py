"""The local runtime: the three Workers in one process over durable local bindings.

Plays workerd's and Cloudflare's part: an HTTP server for the api Worker,
SQLite files for each Durable Object shard, files plus a SQLite index for
the R2 bucket, a durable SQLite queue (with its dead-letter queue) feeding
the synth consumer, and a cron loop for the reaper. The Worker logic is the
same ``shared`` code the Cloudflare entry modules call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.queue import LocalQueue, Outcome, QueueConsumerConfig
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.data_dir_lock import DataDirLock
from local_runtime.http_client import LocalHttpClient
from local_runtime.ratelimit import LocalRateLimiter
from local_runtime.server import HttpServer, ServerLimits
from local_runtime.shards import LocalShardHost
from shared.api.app import ApiApp, ApiDeps
from shared.api.auth import authenticate
from shared.api.errors import ApiError
from shared.api.links import is_loopback_host, require_public_base_url
from shared.config import Settings
from shared.consumer import ConsumerDeps, process_batch, process_dead_letters
from shared.outcomes import Ack, BatchOutcome, Retry
from shared.errors import ConfigError
from shared.http import HttpRequest, HttpResponse
from shared.logs import JsonLogger, LogBuffer
from shared.ports import Clock, IncomingMessage
from shared.reaper import ReaperDeps, run_reaper
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.providers import build_catalogue
from shared.security.urls import resolved_addresses_allowed, url_policy
from shared import webhooks
from shared.webhooks import WebhookDeps, WebhookNotifier, process_webhook_batch

QUEUE = "tts-jobs"
DEAD_LETTER_QUEUE = "tts-jobs-dlq"
WEBHOOK_QUEUE = "tts-webhooks"
BUCKET = "tts-audio-results"
LOG_FLUSH_SECONDS = 0.1  # how long a log line may wait in the runtime's LogBuffer


def is_loopback(host: str) -> bool:
    return is_loopback_host(host)


def _queue_outcomes(outcome: BatchOutcome) -> dict[str, Outcome]:
    out: dict[str, Outcome] = {}
    for message_id, decision in outcome.outcomes.items():
        if isinstance(decision, Retry):
            out[message_id] = Outcome.retry(decision.delay_seconds)
        elif isinstance(decision, Ack):
            out[message_id] = Outcome.ack()
    return out


class LocalRuntime:
    def __init__(
        self,
        data_dir: str | Path,
        env: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 8787,
        clock: Clock = time.time,
        log_stream: TextIO | None = None,
        catalogue: Catalogue | None = None,
        cron_interval: float | None = None,
        log_requests: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = Settings.from_env(env)
        if not settings.api_tokens:
            if not is_loopback(host):
                raise ConfigError(f"API_TOKENS must be set to serve on {host}: only loopback may run without tokens")
            settings = replace(settings, allow_anonymous=True)
        require_public_base_url(settings, host)
        self.settings = settings
        # Before any database is opened: a second runtime on this dir stops here.
        self._lock = DataDirLock.acquire(self.data_dir)
        self.host = host
        self.clock = clock
        self.meter = Meter()
        self.log_stream = log_stream
        # Every logger of the runtime writes whole lines here; flushed every
        # LOG_FLUSH_SECONDS, when full, and at stop (shared/logs.py).
        self.log_sink = LogBuffer(log_stream)
        consumer_config = QueueConsumerConfig(
            max_batch_size=int(env.get("QUEUE_MAX_BATCH_SIZE", "10")),
            max_batch_timeout=float(env.get("QUEUE_MAX_BATCH_TIMEOUT", "0.5")),
            max_retries=int(env.get("QUEUE_MAX_RETRIES", "3")),
            dead_letter_queue=DEAD_LETTER_QUEUE,
        )
        self.cron_interval = cron_interval if cron_interval is not None else float(env.get("CRON_INTERVAL_SECONDS", "300"))

        self.namespace = SqliteDurableObjectNamespace(self.data_dir, self.meter)
        self.shards = LocalShardHost(self.namespace, clock, self.meter)
        self.jobs = self.shards.client(settings.shard_count)
        self.bucket = LocalBucket(self.data_dir / "r2" / BUCKET, self.meter, clock)
        queue_db = self.data_dir / "queues.sqlite"
        # How long a delivered message stays invisible before a crashed
        # consumer's batch is delivered again.
        visibility = float(env.get("QUEUE_VISIBILITY_TIMEOUT", "30"))
        self.queue = LocalQueue(queue_db, QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.dead_letters = LocalQueue(queue_db, DEAD_LETTER_QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.webhook_queue = LocalQueue(queue_db, WEBHOOK_QUEUE, self.meter, clock, visibility_timeout=visibility)
        # Cloud providers come from the same settings as on Cloudflare; Workers AI
        # through its REST API (CLOUDFLARE_ACCOUNT_ID + CLOUDFLARE_API_TOKEN).
        self.catalogue = catalogue or build_catalogue(
            settings, http=LocalHttpClient(), espeak_available=EspeakSynthesizer.available()
        )
        self.api = ApiApp(
            ApiDeps(
                settings=settings,
                jobs=self.jobs,
                bucket=self.bucket,
                queue=self.queue,
                catalogue=self.catalogue,
                clock=clock,
                new_job_id=lambda: uuid.uuid4().hex,
                log=self._logger("api"),
                rate_limiter=LocalRateLimiter(settings.job_rate_limit, settings.job_rate_period, clock)
                if settings.job_rate_limit > 0
                else None,
            )
        )
        self.consumer = ConsumerDeps(
            jobs=self.jobs,
            bucket=self.bucket,
            synthesizer_for=self.catalogue.synthesizer_for,
            model_spec=self.catalogue.get,
            settings=settings,
            clock=clock,
            log=self._logger("synth_consumer"),
            webhooks=WebhookNotifier(self.webhook_queue, self.jobs),
            queue=self.queue,
        )
        self.webhook_deps = WebhookDeps(
            jobs=self.jobs,
            http=LocalHttpClient(max_response_bytes=webhooks.MAX_RESPONSE_BYTES),
            settings=settings,
            clock=clock,
            log=self._logger("synth_consumer"),
            host_allowed=self._webhook_host_allowed,
        )
        self.reaper = ReaperDeps(
            jobs=self.jobs,
            bucket=self.bucket,
            queue=self.queue,
            settings=settings,
            clock=clock,
            log=self._logger("reaper"),
            webhooks=WebhookNotifier(self.webhook_queue, self.jobs),
        )
        self._runners = [
            LocalQueueRunner(self.queue, self._consume, consumer_config),
            LocalQueueRunner(self.dead_letters, self._consume_dead_letters, QueueConsumerConfig(max_batch_timeout=0.5)),
            LocalQueueRunner(
                self.webhook_queue,
                self._deliver_webhooks,
                QueueConsumerConfig(max_batch_timeout=0.5, max_retries=webhooks.QUEUE_MAX_RETRIES),
            ),
        ]
        self._request_log = self._logger("api") if log_requests else None
        self.server = HttpServer(self.handle, host, port, limits=ServerLimits.from_env(env))
        self._cron_task: asyncio.Task[None] | None = None
        self._log_task: asyncio.Task[None] | None = None

    def _logger(self, worker: str) -> JsonLogger:
        return JsonLogger(worker, self.log_sink, flush_each=False)

    async def _flush_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            self.log_sink.flush()

    # --- the Workers' handlers ----------------------------------------------

    async def _consume(self, messages: list[IncomingMessage]) -> dict[str, Outcome]:
        return _queue_outcomes(await process_batch(messages, self.consumer))

    async def _consume_dead_letters(self, messages: list[IncomingMessage]) -> dict[str, Outcome]:
        return _queue_outcomes(await process_dead_letters(messages, self.consumer))

    async def _deliver_webhooks(self, messages: list[IncomingMessage]) -> dict[str, Outcome]:
        return _queue_outcomes(await process_webhook_batch(messages, self.webhook_deps))

    async def _webhook_host_allowed(self, host: str) -> bool:
        """Here DNS is at hand (unlike in a Worker): refuse names that resolve to private addresses."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return True  # unresolvable: the delivery fails and retries like any connection error
        return resolved_addresses_allowed(host, [str(info[4][0]) for info in infos], url_policy(self.settings))

    async def scheduled(self) -> dict[str, Any]:
        """The reaper's cron handler (``GET /__scheduled`` runs it on demand)."""
        return (await run_reaper(self.reaper)).to_json_dict()

    async def handle(self, request: HttpRequest) -> HttpResponse:
        # The dev server's request log: one line a request (the path only: a query may carry a signature).
        if self._request_log is None:
            return await self._handle(request)
        started = time.monotonic()
        response = await self._handle(request)
        ms = round((time.monotonic() - started) * 1000)
        self._request_log.info("request", method=request.method, path=request.path, status=response.status, ms=ms)
        return response

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.path in ("/__scheduled", "/__meter") and self.settings.api_tokens:
            # Served beyond loopback (tokens set), the runtime's own endpoints need a token too.
            try:
                authenticate(request, self.settings)
            except ApiError as exc:
                return exc.to_response()
        if request.path == "/__scheduled":
            # As `wrangler dev --test-scheduled`: run the cron handler now.
            return HttpResponse.json(200, await self.scheduled())
        if request.path == "/__meter":
            return HttpResponse.json(200, self.meter.snapshot())
        return await self.api.handle(request)

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        # The data dir's lock (taken in __init__) proves the process that held any
        # unsettled delivery is dead: its messages come back now, not after the
        # visibility timeout, and each claim it held is taken over by its own
        # message's redelivery (shared/consumer.py). Cloudflare has no such
        # shortcut; nothing depends on it but how soon a restart resumes.
        redelivered = {q.name: q.redeliver_in_flight() for q in (self.queue, self.dead_letters, self.webhook_queue)}
        if any(redelivered.values()):
            self._logger("runtime").info("redelivered_in_flight", messages=redelivered)
        self._log_task = asyncio.get_running_loop().create_task(self._flush_logs())
        await self.server.start()
        for runner in self._runners:
            runner.start()
        if self.cron_interval > 0:
            self._cron_task = asyncio.get_running_loop().create_task(self._cron())
        log = self._logger("runtime")
        log.info(
            "started",
            url=f"http://{self.host}:{self.server.port}",
            dataDir=str(self.data_dir),
            auth="tokens" if self.settings.api_tokens else "none (loopback only: anyone on this machine can call it)",
            models=[m for m in self.catalogue.ids() if self.catalogue.is_available(m)],
            defaultModel=self.catalogue.default_model,
        )
        self.log_sink.flush()  # whoever started us waits for this line

    async def _cron(self) -> None:
        log = self._logger("runtime")
        while True:
            await asyncio.sleep(self.cron_interval)
            try:
                await self.scheduled()
            except Exception as exc:  # a failed run is finished by the next one
                log.error("cron_failed", error=repr(exc))

    async def stop(self) -> None:
        if self._cron_task is not None:
            self._cron_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cron_task
        await self.server.stop()
        for runner in self._runners:
            await runner.stop()
        self.queue.close()
        self.dead_letters.close()
        self.webhook_queue.close()
        self.bucket.close()
        self.namespace.close()
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
        self.log_sink.flush()
        self._lock.release()

    async def serve_forever(self, stop: Callable[[], Awaitable[None]]) -> None:
        await self.start()
        try:
            await stop()
        finally:
            await self.stop()
