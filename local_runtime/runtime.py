"""The local runtime: the three Workers over durable local bindings.

Plays workerd's and Cloudflare's part: an HTTP server for the api Worker,
SQLite files for each Durable Object shard, files plus a SQLite index for
the R2 bucket, a durable SQLite queue (with its dead-letter queue) feeding
the synth consumer, and a cron loop for the reaper. The Worker logic is the
same ``shared`` code the Cloudflare entry modules call.

A ``LocalRuntime`` runs the Workers its ``roles`` name. Without a ``place``
it is the whole runtime in one process (``tts-pipeline dev --single-process``,
and the tests and benchmarks that drive a runtime in-process): it holds the
data dir's lock and hosts the shards itself. With a ``place`` it is one
process of the split runtime (``local_runtime.processes``, the default of
``tts-pipeline dev``): one Worker, its shard calls going over RPC to the
supervisor that hosts the shards, its meter shared with the other processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from local_runtime.assets import StaticAssets
from local_runtime.bindings.meter import Meter, SharedMeter
from local_runtime.bindings.queue import LocalQueue, Outcome
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.data_dir_lock import DataDirLock
from local_runtime.http_client import LocalHttpClient
from local_runtime.mp3_encoder import load_mp3_encoder
from local_runtime.queue_wake import WakeListener, WakeSender, wake_path
from local_runtime.ratelimit import LocalRateLimiter
from local_runtime.server import HttpServer, ServerLimits
from local_runtime.shard_rpc import RemoteShardHost
from local_runtime.shards import LocalShardHost
from local_runtime.local_models import local_models
from local_runtime.wrangler_config import queue_consumer_configs
from shared.api.auth import authenticate
from shared.api.errors import ApiError
from shared.api.links import dev_server_settings
from shared.config import LocalSettings, Settings
from shared.bootstrap import DEAD_LETTER_QUEUE, JOBS_QUEUE, WEBHOOK_QUEUE, Pipeline, RuntimePorts
from shared.outcomes import Ack, BatchOutcome, Retry
from shared.http import HttpRequest, HttpResponse
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
API, CONSUMER, REAPER = "api", "consumer", "reaper"
ROLES = (API, CONSUMER, REAPER)
"""The Workers a runtime process can run: the api (HTTP), the synth consumer (its three queues), the reaper (cron)."""
HOST_LOST_EXIT = 70
"""A split runtime's Worker process exits with this when the supervisor (the shard host) is gone."""


def queue_names() -> tuple[str, ...]:
    """The runtime's three queues, all in ``<data dir>/queues.sqlite``."""
    return (QUEUE, DEAD_LETTER_QUEUE, WEBHOOK_QUEUE)


@dataclass(frozen=True)
class ProcessPlace:
    """Where one process of the split runtime stands: its Worker, and what it shares with the others."""

    role: str
    run_dir: Path  # the supervisor's private directory: the shard socket, the meter, the queue wakes
    meter_row: int
    meter_rows: int

    @property
    def shard_socket(self) -> Path:
        return self.run_dir / "shards.sock"

    @property
    def meter_path(self) -> Path:
        return self.run_dir / "meter"


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
        roles: Collection[str] = ROLES,
        place: ProcessPlace | None = None,
    ) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ValueError(f"roles must be some of {ROLES}, got {sorted(roles)}")
        self.roles = frozenset(roles if place is None else (place.role,))
        self.place = place
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        settings = dev_server_settings(Settings.from_env(env), host)
        self.settings = settings
        # Before any database is opened: a second runtime on this dir stops here.
        # A process of the split runtime runs under its supervisor's lock.
        self._lock = DataDirLock.acquire(self.data_dir) if place is None else None
        self.host = host
        self.clock = clock
        self.meter: Meter = (
            Meter() if place is None else SharedMeter(place.meter_path, place.meter_row, place.meter_rows)
        )
        self.log_stream = log_stream
        # Every logger of the runtime writes whole lines here; flushed every
        # LOG_FLUSH_SECONDS, when full, and at stop (shared/logs.py).
        self.log_sink = LogBuffer(log_stream)
        host_settings = LocalSettings.from_env(env)
        consumer_configs = queue_consumer_configs(env)  # synth_consumer's wrangler.toml, QUEUE_MAX_* over it
        self.cron_interval = cron_interval if cron_interval is not None else host_settings.cron_interval_seconds

        # The shards: hosted here, or by the split runtime's supervisor (one writer each).
        self.remote_shards: RemoteShardHost | None = None
        if place is None:
            self.namespace: SqliteDurableObjectNamespace | None = SqliteDurableObjectNamespace(self.data_dir, self.meter)
            self.shards: LocalShardHost | None = LocalShardHost(
                self.namespace, clock, self.meter, settings.max_waiters_per_shard
            )
            self.jobs = self.shards.client(settings.shard_count)
        else:
            self.namespace = self.shards = None
            self.remote_shards = RemoteShardHost(place.shard_socket, self.meter)
            self.jobs = self.remote_shards.client(settings.shard_count)
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
                    mp3_encoder=load_mp3_encoder(), local_models=local_models(host_settings),
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
        self._runners = [] if CONSUMER not in self.roles else [
            LocalQueueRunner(self.queue, self._consumer_of(QUEUE), consumer_configs[QUEUE]),
            LocalQueueRunner(
                self.dead_letters, self._consumer_of(DEAD_LETTER_QUEUE), consumer_configs[DEAD_LETTER_QUEUE]
            ),
            LocalQueueRunner(self.webhook_queue, self._consumer_of(WEBHOOK_QUEUE), consumer_configs[WEBHOOK_QUEUE]),
        ]
        if REAPER not in self.roles:
            self.cron_interval = 0
        self._request_log = self._logger("api") if log_requests else None
        self.assets = StaticAssets()  # the web page, served before the api as Cloudflare serves [assets]
        # The api's body cap, refused before reading as on Cloudflare (cloudflare_adapters/http.py).
        self.server: HttpServer | None = None if API not in self.roles else HttpServer(
            self.handle, host, port, max_body_bytes=self.api.max_body_bytes,
            limits=ServerLimits.from_settings(host_settings),
        )
        self._cron_task: asyncio.Task[None] | None = None
        self._log_task: asyncio.Task[None] | None = None
        self._stopping = False
        # Sends from this process wake the consumer's process (split runtime only).
        self._wake_listeners: list[WakeListener] = []
        self._wake_senders: list[WakeSender] = []

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
        """The reaper's cron handler (``GET /__scheduled`` runs it on demand)."""
        return (await self.pipeline.scheduled()).to_json_dict()

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
            return HttpResponse.json(200, await self.scheduled())
        if request.path == "/__meter":
            return HttpResponse.json(200, self.meter.snapshot())
        return await self.api.handle(request)

    # --- lifecycle ------------------------------------------------------------

    @property
    def queues(self) -> tuple[LocalQueue, ...]:
        return (self.queue, self.dead_letters, self.webhook_queue)

    def started_fields(self) -> dict[str, Any]:
        """The ``started`` line's fields (the api's: its address and models)."""
        assert self.server is not None
        return {
            "url": f"http://{self.host}:{self.server.port}",
            "dataDir": str(self.data_dir),
            "auth": "tokens" if self.settings.api_tokens else "none (loopback only: anyone on this machine can call it)",
            "models": [m for m in self.catalogue.ids() if self.catalogue.is_available(m)],
            "defaultModel": self.catalogue.default_model,
        }

    async def start(self) -> None:
        if self._lock is not None:
            # The data dir's lock (taken in __init__) proves the process that held any
            # unsettled delivery is dead: its messages come back now, not after the
            # visibility timeout, and each claim it held is taken over by its own
            # message's redelivery (shared/consumer.py). Cloudflare has no such
            # shortcut; nothing depends on it but how soon a restart resumes.
            # (In the split runtime the supervisor does this before any Worker starts.)
            redelivered = {q.name: q.redeliver_in_flight() for q in self.queues}
            if any(redelivered.values()):
                self._logger("runtime").info("redelivered_in_flight", messages=redelivered)
        self._log_task = asyncio.get_running_loop().create_task(self._flush_logs())
        if self.remote_shards is not None:
            await self.remote_shards.connect(on_lost=self._shard_host_lost)
        if self.place is not None:
            self._start_wakes(self.place)
        if self.server is not None:
            await self.server.start()
        for runner in self._runners:
            runner.start()
        if self.cron_interval > 0:
            self._cron_task = asyncio.get_running_loop().create_task(self._cron())
        if self.place is not None:
            # The supervisor logs ``started`` once every process is up.
            ready = self.started_fields() if self.server is not None else {}
            assert self.remote_shards is not None
            self.remote_shards.notice({"ready": self.place.role, "pid": os.getpid(), **ready})
            return
        self._logger("runtime").info("started", **self.started_fields())
        self.log_sink.flush()  # whoever started us waits for this line

    def _start_wakes(self, place: ProcessPlace) -> None:
        """The consumer's process listens for sends made elsewhere; the others announce theirs."""
        for queue in self.queues:
            path = wake_path(place.run_dir, queue.name)
            if place.role == CONSUMER:
                runner = next(r for r in self._runners if r.queue is queue)
                listener = WakeListener(path, runner.wake)
                listener.start()
                self._wake_listeners.append(listener)
            else:
                self._wake_senders.append(WakeSender(queue.db_path, queue.name, path))

    def _shard_host_lost(self) -> None:
        if self._stopping:
            return
        # The supervisor is gone (killed, or crashed): nothing here can go on without its shards.
        self._logger("runtime").error("shard_host_lost", role=self.place.role if self.place else None)
        self.log_sink.flush()
        os._exit(HOST_LOST_EXIT)

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
        if self.server is not None:
            await self.server.stop()
        for runner in self._runners:
            await runner.stop()
        for listener in self._wake_listeners:
            listener.close()
        for sender in self._wake_senders:
            sender.close()
        self._stopping = True
        if self.remote_shards is not None:
            self.remote_shards.close()
        for queue in self.queues:
            queue.close()
        self.bucket.close()
        if self.namespace is not None:
            self.namespace.close()
        if isinstance(self.meter, SharedMeter):
            self.meter.close()
        if self._log_task is not None:
            self._log_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._log_task
        self.log_sink.flush()
        if self._lock is not None:
            self._lock.release()

    async def serve_forever(self, stop: Callable[[], Awaitable[None]]) -> None:
        await self.start()
        try:
            await stop()
        finally:
            await self.stop()
