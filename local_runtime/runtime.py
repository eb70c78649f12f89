"""The local runtime: the three Workers over durable local bindings, in one process.

Plays workerd's and Cloudflare's part: an HTTP server for the api Worker,
SQLite files for each Durable Object shard, files plus a SQLite index for
the R2 bucket, durable SQLite queues (jobs, a long job's work, their
dead-letter queue, webhooks) feeding the synth consumer, and a cron loop
for the reaper. The Worker logic is the same ``shared`` code the Cloudflare
entry modules call. Everything runs on one event loop and holds the data
dir's lock; workerd (``tts-pipeline dev --runtime workerd``) is where the
Workers run apart, as on Cloudflare.

Each api request, queue batch and cron run is an invocation under
Cloudflare's limits (``local_runtime/limits.py``, ``ENFORCE_CLOUDFLARE_LIMITS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from local_runtime.assets import StaticAssets
from local_runtime.bindings.meter import Meter
from local_runtime.bindings.queue import LocalQueue, Outcome
from local_runtime.bindings.queue_runner import Handler, LocalQueueRunner
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.data_dir_lock import DataDirLock
from local_runtime import limits
from local_runtime.http_client import LocalHttpClient, LocalStreamUploader
from local_runtime.audio_encoders import load_encoders
from local_runtime.offload import ThreadOffload, pool_size
from local_runtime.private_files import private_dir
from local_runtime.ratelimit import LocalRateLimiter
from local_runtime.server import HttpServer, ServerLimits
from local_runtime.shards import LocalShardHost
from local_runtime.local_models import local_models
from local_runtime.supervision import Backoff, LoopHealth
from local_runtime.wrangler_config import CONSUMER_WORKER, queue_consumer_configs, worker_cpu_ms
from shared.api.auth import authenticate
from shared.api.errors import ApiError
from shared.api.links import dev_server_settings
from shared.config import LocalSettings, Settings
from shared.bootstrap import CHUNK_QUEUE, CONSUMER, DEAD_LETTER_QUEUE, JOBS_QUEUE, WEBHOOK_QUEUE, api_app, bootstrap, cron_run, queue_batch
from shared.outcomes import Ack, BatchOutcome, Retry
from shared.http import Headers, HttpRequest, HttpResponse
from shared.jobs.outbox import JOBS, WEBHOOKS
from shared.logs import JsonLogger, LogBuffer, TextSink
from shared.ports import Clock, IncomingMessage
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.providers import build_catalogue
from shared.security.urls import resolved_addresses_allowed, url_policy
from shared import webhooks

QUEUE = JOBS_QUEUE
BUCKET = "tts-audio-results"
LOG_FLUSH_SECONDS = 0.1  # how long a log line may wait in the runtime's LogBuffer
SHUTDOWN_GRACE_SECONDS = 10.0
"""How long a stopping runtime lets the deliveries in progress finish before it hands them back."""


class ReaperRunError(Exception):
    """A cron run of the reaper that reported errors (it logs them; the cron loop reports it failing)."""


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
        log_stream: TextSink | None = None,
        catalogue: Catalogue | None = None,
        cron_interval: float | None = None,
        log_requests: bool = False,
    ) -> None:
        self.data_dir = private_dir(data_dir)  # job text and audio: 0700, files 0600
        settings = dev_server_settings(Settings.from_env(env), host)
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
        # The background loops' failures (queue runners, cron, shard alarms): logged, and /healthz's 503.
        self.health = LoopHealth(self._logger("runtime"))
        host_settings = LocalSettings.from_env(env)
        consumer_configs = queue_consumer_configs(env)  # synth_consumer's wrangler.toml, QUEUE_MAX_* over it
        self.cron_interval = cron_interval if cron_interval is not None else host_settings.cron_interval_seconds
        # The offline models' blocking work runs here, off the event loop (local_runtime/offload.py).
        self.offload = ThreadOffload(pool_size(host_settings.synthesis_threads))

        queue_db = self.data_dir / "queues.sqlite"
        # How long a delivered message stays invisible before a crashed
        # consumer's batch is delivered again.
        visibility = host_settings.queue_visibility_timeout
        self.queue = LocalQueue(queue_db, QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.chunk_queue = LocalQueue(queue_db, CHUNK_QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.dead_letters = LocalQueue(queue_db, DEAD_LETTER_QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.webhook_queue = LocalQueue(queue_db, WEBHOOK_QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.namespace = SqliteDurableObjectNamespace(self.data_dir, self.meter)
        # The shards send the queue messages their writes record (shared/jobs/outbox.py).
        self.shards = LocalShardHost(
            self.namespace, clock, self.meter, settings.max_waiters_per_shard,
            shard_count=settings.shard_count, producers={JOBS: self.queue, WEBHOOKS: self.webhook_queue},
            log=self._logger("shard"), health=self.health,
        )
        self.jobs = self.shards.client(settings.shard_count)
        self.bucket = LocalBucket(self.data_dir / "r2" / BUCKET, self.meter, clock)
        # Cloud providers come from the same settings as on Cloudflare; Workers AI
        # through its REST API (CLOUDFLARE_ACCOUNT_ID + CLOUDFLARE_API_TOKEN).
        models = catalogue
        self.deps = bootstrap(
            settings=settings,
            jobs=self.jobs,
            bucket=self.bucket,
            queue=self.queue,
            clock=clock,
            chunk_queue=self.chunk_queue,
            catalogue=lambda: models or build_catalogue(
                settings, http=LocalHttpClient(), espeak_available=EspeakSynthesizer.available(),
                encoders=load_encoders(), offload=self.offload,
                local_models=local_models(host_settings, self.offload),
            ),
            webhook_queue=self.webhook_queue,
            http=LocalHttpClient(max_response_bytes=webhooks.MAX_RESPONSE_BYTES),
            host_allowed=self._webhook_host_allowed,
            uploader=LocalStreamUploader(),
            rate_limiter=lambda limit, period: LocalRateLimiter(limit, period, clock),
            log_stream=self.log_sink,
            log_flush_each=False,
            health=self.health.failing,
            meter=self.meter.add,
        )
        self.catalogue = self.deps.catalogue
        self.api = api_app(self.deps)
        self.consumer = self.deps.acting_as(CONSUMER)
        # Cloudflare's limits on each invocation: an api request, a queue batch, a cron run.
        self.fetch_limits = limits.InvocationLimits.of(settings, host_settings, cpu_ms=worker_cpu_ms("api", env))
        self.cron_limits = limits.InvocationLimits.of(settings, host_settings, cpu_ms=worker_cpu_ms("reaper", env))
        batch_limits = limits.InvocationLimits.of(
            settings, host_settings, cpu_ms=worker_cpu_ms(CONSUMER_WORKER, env), queue_consumer=True
        )
        consumer_log = self._logger("synth_consumer")
        self._runners = [
            LocalQueueRunner(
                queue, self._consumer_of(queue.name), consumer_configs[queue.name],
                invocation_limits=batch_limits, log=consumer_log, health=self.health,
            )
            for queue in self.queues
        ]
        self._request_log = self._logger("api") if log_requests else None
        self.assets = StaticAssets()  # the web page, served before the api as Cloudflare serves [assets]
        # The api's body cap, refused before reading as on Cloudflare (cloudflare_adapters/http.py).
        self.server = HttpServer(
            self.handle, host, port, max_body_bytes=self.api.max_body_bytes,
            limits=ServerLimits.from_settings(host_settings),
        )
        self._cron_task: asyncio.Task[None] | None = None
        self._runner_tasks: list[asyncio.Task[None]] = []
        self._log_task: asyncio.Task[None] | None = None

    def _logger(self, worker: str) -> JsonLogger:
        return JsonLogger(worker, self.log_sink, flush_each=False)

    async def _flush_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            self.log_sink.flush()

    # --- the Workers' handlers ----------------------------------------------

    def _consumer_of(self, queue_name: str) -> Handler:
        """The synth_consumer Worker's queue handler for one queue (routing: shared/bootstrap.py)."""

        async def consume(messages: list[IncomingMessage]) -> dict[str, Outcome]:
            return _queue_outcomes(await queue_batch(self.deps, queue_name, messages))

        return consume

    async def _webhook_host_allowed(self, host: str) -> bool:
        """Here DNS is at hand (unlike in a Worker): refuse names that resolve to private addresses."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        except OSError:
            return True  # unresolvable: the delivery fails and retries like any connection error
        return resolved_addresses_allowed(host, [str(info[4][0]) for info in infos], url_policy(self.settings))

    async def scheduled(self) -> dict[str, Any]:
        """The reaper's cron handler (``GET /__scheduled`` runs it on demand), one invocation.

        Raises ``LimitExceededByInvocation`` (logged) when the run passes a limit."""
        invocation = limits.Invocation("reaper", self.cron_limits)
        try:
            report = await limits.run(invocation, cron_run(self.deps))
        except limits.LimitExceededByInvocation as exc:
            self._log_limit(exc, invocation)
            raise
        return report.to_json_dict()

    async def _fetch(self, request: HttpRequest) -> HttpResponse:
        """The api Worker's fetch handler, one invocation: past a limit the client gets Cloudflare's error page."""
        invocation = limits.Invocation("api", self.fetch_limits)
        try:
            return await limits.run(invocation, self._api_call(request))
        except limits.LimitExceededByInvocation as exc:
            self._log_limit(exc, invocation, method=request.method, path=request.path)
            status, text = exc.http_page
            return HttpResponse(status, Headers({"Content-Type": "text/plain; charset=utf-8"}), text.encode())

    async def _api_call(self, request: HttpRequest) -> HttpResponse:
        limits.payload(len(request.body))
        response = await self.api.handle(request)
        limits.payload(len(response.body))
        return response

    def _log_limit(self, exc: limits.LimitExceededByInvocation, invocation: limits.Invocation, **fields: Any) -> None:
        self._logger(invocation.worker).error(
            "limit_exceeded", limit=exc.limit, outcome=exc.outcome, error=exc.message, **fields, **invocation.counts()
        )

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
        asset = self.assets.response(request)
        if asset is not None:
            return asset
        if request.path in ("/__scheduled", "/__meter") and self.settings.api_tokens:
            # Served beyond loopback (tokens set), the runtime's own endpoints need a token too.
            try:
                authenticate(request, self.settings)
            except ApiError as exc:
                return exc.to_response()
        if request.path == "/__scheduled":
            # As `wrangler dev --test-scheduled`: run the cron handler now.
            try:
                return HttpResponse.json(200, await self.scheduled())
            except limits.LimitExceededByInvocation as exc:
                status, text = exc.http_page
                return HttpResponse(status, Headers({"Content-Type": "text/plain; charset=utf-8"}), text.encode())
        if request.path == "/__meter":
            return HttpResponse.json(200, self.meter.snapshot())
        return await self._fetch(request)

    # --- lifecycle ------------------------------------------------------------

    @property
    def queues(self) -> tuple[LocalQueue, ...]:
        return (self.queue, self.chunk_queue, self.dead_letters, self.webhook_queue)

    def started_fields(self) -> dict[str, Any]:
        """The ``started`` line's fields: the api's address and models."""
        return {
            "url": f"http://{self.host}:{self.server.port}",
            "dataDir": str(self.data_dir),
            "auth": "tokens" if self.settings.api_tokens else "none (loopback only: anyone on this machine can call it)",
            "models": [m for m in self.catalogue.ids() if self.catalogue.is_available(m)],
            "defaultModel": self.catalogue.default_model,
        }

    async def start(self) -> None:
        # The data dir's lock (taken in __init__) proves the process that held any
        # unsettled delivery is dead: its messages come back now, not after the
        # visibility timeout, and each claim it held is taken over by its own
        # message's redelivery (shared/consumer.py). Cloudflare has no such
        # shortcut; nothing depends on it but how soon a restart resumes.
        redelivered = {q.name: q.redeliver_in_flight() for q in self.queues}
        if any(redelivered.values()):
            self._logger("runtime").info("redelivered_in_flight", messages=redelivered)
        await self.shards.resume()  # messages a crash left unsent: their shards' alarms
        self._log_task = asyncio.get_running_loop().create_task(self._flush_logs())
        await self.server.start()
        self._runner_tasks = [runner.start() for runner in self._runners]
        if self.cron_interval > 0:
            self._cron_task = asyncio.get_running_loop().create_task(self._cron())
        self._logger("runtime").info("started", **self.started_fields())
        self.log_sink.flush()  # whoever started us waits for this line

    async def _cron(self) -> None:
        # A failed run (a storage error) is reported and tried again sooner, with backoff, than
        # the next period; whatever it left undone the next run finishes.
        backoff = Backoff(limit=max(self.cron_interval, 1.0))
        delay = self.cron_interval
        while True:
            await asyncio.sleep(delay)
            try:
                report = await self.scheduled()
                if report.get("errors"):  # the reaper keeps going past a failed step; its run still failed
                    raise ReaperRunError("; ".join(report["errors"][:3]))
            except limits.LimitExceededByInvocation:
                pass  # logged as limit_exceeded; the next run carries on from the reaper's cursor
            except Exception as exc:
                delay = backoff.next()
                self.health.failed("cron", exc, delay)
                continue
            if backoff.failures:
                backoff.reset()
                self.health.ok("cron")
            delay = self.cron_interval

    async def stop(self) -> None:
        """Graceful shutdown (SIGTERM): open waits are answered at once with their job as it is,
        the server stops accepting and finishes the requests in progress, the deliveries in
        progress get ``SHUTDOWN_GRACE_SECONDS`` to finish and are then handed back (left
        unsettled: their messages are delivered again at the next start)."""
        if self._cron_task is not None:
            self._cron_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._cron_task
        self.shards.close_waiters()
        await self.server.stop()
        await self._stop_runners()
        await self.shards.close()
        for queue in self.queues:
            queue.close()
        self.bucket.close()
        self.namespace.close()
        self.offload.close()
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
        self.log_sink.flush()
        self._lock.release()

    async def _stop_runners(self) -> None:
        stops = [asyncio.ensure_future(runner.stop()) for runner in self._runners]
        if not stops:
            return
        _, late = await asyncio.wait(stops, timeout=SHUTDOWN_GRACE_SECONDS)
        if late:
            # Deliveries still running: cancelled, so left unsettled (handed back to the queue).
            self._logger("runtime").warning("deliveries_handed_back", runners=len(late))
            for task in self._runner_tasks:
                task.cancel()
        await asyncio.gather(*stops, *self._runner_tasks, return_exceptions=True)

    async def serve_forever(self, stop: Callable[[], Awaitable[object]]) -> None:
        await self.start()
        try:
            await stop()
        finally:
            await self.stop()
