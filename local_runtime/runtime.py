"""The local runtime: the three Workers over durable local bindings, in one process.

Plays workerd's and Cloudflare's part: an HTTP server for the api Worker,
SQLite files for each Durable Object shard, files plus a SQLite index for
the R2 bucket, a durable SQLite queue (with its dead-letter queue) feeding
the synth consumer, and a cron loop for the reaper. The Worker logic is the
same ``shared`` code the Cloudflare entry modules call. Everything runs on
one event loop and holds the data dir's lock; workerd (``tts-pipeline dev
--runtime workerd``) is where the Workers run apart, as on Cloudflare.

Each api request, queue batch and cron run is an invocation under
Cloudflare's limits (``local_runtime/limits.py``, ``ENFORCE_CLOUDFLARE_LIMITS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from local_runtime.assets import StaticAssets
from local_runtime.bindings.meter import Meter
from local_runtime.bindings.queue import LocalQueue, Outcome
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.data_dir_lock import DataDirLock
from local_runtime import limits
from local_runtime.http_client import LocalHttpClient
from local_runtime.audio_encoders import load_encoders
from local_runtime.offload import ThreadOffload, pool_size
from local_runtime.ratelimit import LocalRateLimiter
from local_runtime.server import HttpServer, ServerLimits
from local_runtime.shards import LocalShardHost
from local_runtime.local_models import local_models
from local_runtime.wrangler_config import CONSUMER_WORKER, queue_consumer_configs, worker_cpu_ms
from shared.api.auth import authenticate
from shared.api.errors import ApiError
from shared.api.links import dev_server_settings
from shared.config import LocalSettings, Settings
from shared.bootstrap import DEAD_LETTER_QUEUE, JOBS_QUEUE, WEBHOOK_QUEUE, Pipeline, RuntimePorts
from shared.outcomes import Ack, BatchOutcome, Retry
from shared.http import Headers, HttpRequest, HttpResponse
from shared.logs import JsonLogger, LogBuffer
from shared.ports import Clock, IncomingMessage
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.providers import build_catalogue
from shared.security.urls import resolved_addresses_allowed, url_policy
from shared import webhooks

QUEUE = JOBS_QUEUE
BUCKET = "tts-audio-results"
LOG_FLUSH_SECONDS = 0.1  # how long a log line may wait in the runtime's LogBuffer


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
        host_settings = LocalSettings.from_env(env)
        consumer_configs = queue_consumer_configs(env)  # synth_consumer's wrangler.toml, QUEUE_MAX_* over it
        self.cron_interval = cron_interval if cron_interval is not None else host_settings.cron_interval_seconds
        # The offline models' blocking work runs here, off the event loop (local_runtime/offload.py).
        self.offload = ThreadOffload(pool_size(host_settings.synthesis_threads))

        self.namespace = SqliteDurableObjectNamespace(self.data_dir, self.meter)
        self.shards = LocalShardHost(self.namespace, clock, self.meter, settings.max_waiters_per_shard)
        self.jobs = self.shards.client(settings.shard_count)
        self.bucket = LocalBucket(self.data_dir / "r2" / BUCKET, self.meter, clock)
        queue_db = self.data_dir / "queues.sqlite"
        # How long a delivered message stays invisible before a crashed
        # consumer's batch is delivered again.
        visibility = host_settings.queue_visibility_timeout
        self.queue = LocalQueue(queue_db, QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.dead_letters = LocalQueue(queue_db, DEAD_LETTER_QUEUE, self.meter, clock, visibility_timeout=visibility)
        self.webhook_queue = LocalQueue(queue_db, WEBHOOK_QUEUE, self.meter, clock, visibility_timeout=visibility)
        # Cloud providers come from the same settings as on Cloudflare; Workers AI
        # through its REST API (CLOUDFLARE_ACCOUNT_ID + CLOUDFLARE_API_TOKEN).
        models = catalogue
        self.pipeline = Pipeline(
            RuntimePorts(
                settings=settings,
                jobs=self.jobs,
                bucket=self.bucket,
                jobs_queue=self.queue,
                clock=clock,
                catalogue=lambda: models or build_catalogue(
                    settings, http=LocalHttpClient(), espeak_available=EspeakSynthesizer.available(),
                    encoders=load_encoders(), offload=self.offload,
                    local_models=local_models(host_settings, self.offload),
                ),
                webhook_queue=self.webhook_queue,
                webhook_http=LocalHttpClient(max_response_bytes=webhooks.MAX_RESPONSE_BYTES),
                webhook_host_allowed=self._webhook_host_allowed,
                rate_limiter=lambda limit, period: LocalRateLimiter(limit, period, clock),
                log_stream=self.log_sink,
                log_flush_each=False,
            )
        )
        self.catalogue = self.pipeline.catalogue
        self.api = self.pipeline.api
        self.consumer = self.pipeline.consumer
        self.webhook_deps = self.pipeline.webhooks
        self.reaper = self.pipeline.reaper
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
                invocation_limits=batch_limits, log=consumer_log,
            )
            for queue in (self.queue, self.dead_letters, self.webhook_queue)
        ]
        self._request_log = self._logger("api") if log_requests else None
        self.assets = StaticAssets()  # the web page, served before the api as Cloudflare serves [assets]
        # The api's body cap, refused before reading as on Cloudflare (cloudflare_adapters/http.py).
        self.server = HttpServer(
            self.handle, host, port, max_body_bytes=self.api.max_body_bytes,
            limits=ServerLimits.from_settings(host_settings),
        )
        self._cron_task: asyncio.Task[None] | None = None
        self._log_task: asyncio.Task[None] | None = None

    def _logger(self, worker: str) -> JsonLogger:
        return JsonLogger(worker, self.log_sink, flush_each=False)

    async def _flush_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            self.log_sink.flush()

    # --- the Workers' handlers ----------------------------------------------

    def _consumer_of(self, queue_name: str) -> Callable[[list[IncomingMessage]], Awaitable[dict[str, Outcome]]]:
        """The synth_consumer Worker's queue handler for one queue (routing: shared/bootstrap.py)."""

        async def consume(messages: list[IncomingMessage]) -> dict[str, Outcome]:
            return _queue_outcomes(await self.pipeline.queue_batch(queue_name, messages))

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
            report = await limits.run(invocation, self.pipeline.scheduled())
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
        return (self.queue, self.dead_letters, self.webhook_queue)

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
        self._log_task = asyncio.get_running_loop().create_task(self._flush_logs())
        await self.server.start()
        for runner in self._runners:
            runner.start()
        if self.cron_interval > 0:
            self._cron_task = asyncio.get_running_loop().create_task(self._cron())
        self._logger("runtime").info("started", **self.started_fields())
        self.log_sink.flush()  # whoever started us waits for this line

    async def _cron(self) -> None:
        log = self._logger("runtime")
        while True:
            await asyncio.sleep(self.cron_interval)
            try:
                await self.scheduled()
            except limits.LimitExceededByInvocation:
                pass  # logged as limit_exceeded; the next run carries on from the reaper's cursor
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

    async def serve_forever(self, stop: Callable[[], Awaitable[None]]) -> None:
        await self.start()
        try:
            await stop()
        finally:
            await self.stop()
