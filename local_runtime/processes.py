"""The split local runtime, ``tts-pipeline dev``'s default: one process per Worker, as on Cloudflare.

On Cloudflare the api, the synth consumer and the reaper run in separate
isolates and every Durable Object shard runs in one place, reached by RPC.
Here:

- this process, the **supervisor**, holds the data dir's lock, hosts every
  shard (the only process that opens their SQLite files: one writer each)
  and serves them on a Unix socket (``local_runtime.shard_rpc``);
- the **api** process serves HTTP, the **consumer** process runs the three
  queues' consumers, and the **reaper** process the cron (only when
  ``CRON_INTERVAL_SECONDS`` > 0), each a ``LocalRuntime`` with a
  ``ProcessPlace`` (``local_runtime.worker_process``). They share the
  queues' and the bucket's files, which are safe across processes (SQLite
  transactions; an object is indexed only once its file is complete).

So the api and the consumer use a core each. The meter is one file every
process maps (``SharedMeter``): ``/__meter`` counts the whole runtime.

Lifecycle: unsettled deliveries of a dead runtime are made visible again
before any Worker starts (the lock proves their holder is dead); the
``started`` line is logged once every Worker said it is ready, with the
api's address. SIGINT or SIGTERM stops the Workers first (a batch in
progress finishes, its shard calls still answered) and the shards last.
A Worker that dies stops the whole runtime with an error: a supervisor
that restarted Workers would hide crashes a developer should see. Each
Worker dies with the supervisor (``PR_SET_PDEATHSIG`` on Linux; everywhere,
when the shard socket closes) and inherits the lock's descriptor, so a new
runtime cannot take the data dir while any of them lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from local_runtime.bindings.meter import SharedMeter
from local_runtime.bindings.queue import LocalQueue
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.data_dir_lock import DataDirLock
from local_runtime.runtime import API, BUCKET, CONSUMER, LOG_FLUSH_SECONDS, QUEUE, REAPER, ProcessPlace, queue_names
from local_runtime.shard_rpc import ShardRpcServer
from local_runtime.shards import LocalShardHost
from shared.api.links import dev_server_settings
from shared.config import LocalSettings, Settings
from shared.bootstrap import WEBHOOK_QUEUE
from shared.jobs.outbox import JOBS, WEBHOOKS
from shared.logs import JsonLogger, LogBuffer

STARTUP_SECONDS = 60.0
"""How long the Workers may take to say they are ready (imports, the catalogue, binding the port)."""
STOP_SECONDS = 30.0
"""How long a Worker may take to stop (a batch in progress finishes) before it is killed."""


class WorkerExitedError(RuntimeError):
    """A Worker process ended before it was told to."""


class SplitRuntime:
    def __init__(
        self,
        data_dir: str | Path,
        env: Mapping[str, str],
        *,
        host: str = "127.0.0.1",
        port: int = 8787,
        log_format: str = "json",
        log_stream: TextIO | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.env = dict(env)
        self.host = host
        self.port = port
        self.log_format = log_format
        # The settings are read here first, so a bad one is one error before any process starts.
        self.settings = dev_server_settings(Settings.from_env(env), host)
        host_settings = LocalSettings.from_env(env)
        self.visibility_timeout = host_settings.queue_visibility_timeout
        self.roles = [CONSUMER, API] + ([REAPER] if host_settings.cron_interval_seconds > 0 else [])
        self._lock = DataDirLock.acquire(self.data_dir)
        self.run_dir = Path(tempfile.mkdtemp(prefix="tts-"))  # short: a Unix socket's path has ~100 bytes
        self.meter = SharedMeter.create(self.run_dir / "meter", rows=1 + len(self.roles))
        self.namespace = SqliteDurableObjectNamespace(self.data_dir, self.meter)
        self.log_sink = LogBuffer(log_stream)
        self.log = JsonLogger("runtime", self.log_sink, flush_each=False)
        # The shards' outboxes send to the queues themselves (shared/jobs/outbox.py).
        self._outbox_queues = {
            JOBS: LocalQueue(self.data_dir / "queues.sqlite", QUEUE, self.meter, visibility_timeout=self.visibility_timeout),
            WEBHOOKS: LocalQueue(self.data_dir / "queues.sqlite", WEBHOOK_QUEUE, self.meter,
                                 visibility_timeout=self.visibility_timeout),
        }
        self.shards = LocalShardHost(
            self.namespace, time.time, self.meter, self.settings.max_waiters_per_shard,
            shard_count=self.settings.shard_count, producers=self._outbox_queues,
            log=JsonLogger("shard", self.log_sink, flush_each=False),
        )
        self.server = ShardRpcServer(self.shards, self.run_dir / "shards.sock", self._on_notice)
        self.workers: dict[str, asyncio.subprocess.Process] = {}
        self._ready: dict[str, dict[str, Any]] = {}
        self._all_ready = asyncio.Event()
        self.url = ""
        self._stopped = False

    def _on_notice(self, notice: dict[str, Any]) -> None:
        role = notice.get("ready")
        if isinstance(role, str):
            self._ready[role] = notice
            if all(r in self._ready for r in self.roles):
                self._all_ready.set()

    def _place(self, role: str) -> ProcessPlace:
        return ProcessPlace(role, self.run_dir, 1 + self.roles.index(role), 1 + len(self.roles))

    async def _spawn(self, role: str) -> asyncio.subprocess.Process:
        place = self._place(role)
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "local_runtime.worker_process",
            "--role", role, "--data-dir", str(self.data_dir), "--run-dir", str(place.run_dir),
            "--meter-row", str(place.meter_row), "--meter-rows", str(place.meter_rows),
            "--host", self.host, "--port", str(self.port), "--log-format", self.log_format,
            "--parent-pid", str(os.getpid()),
            stdin=asyncio.subprocess.DEVNULL, env=self.env, pass_fds=(self._lock.fileno(),),
        )

    async def start(self) -> None:
        """Starts the Workers and waits until each is ready; if one is not, stops the rest and raises."""
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._prepare_storage()
        await self.shards.resume()
        await self.server.start()
        for role in self.roles:
            self.workers[role] = await self._spawn(role)
        exited = asyncio.ensure_future(self._first_exit())
        ready = asyncio.ensure_future(self._all_ready.wait())
        done, _ = await asyncio.wait({exited, ready}, timeout=STARTUP_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        exited.cancel()
        if ready not in done:
            raise WorkerExitedError(
                exited.result() if exited in done else f"the Workers were not ready in {STARTUP_SECONDS:.0f} s"
            )
        api = self._ready[API]
        self.url = str(api["url"])
        fields = {k: v for k, v in api.items() if k not in ("ready", "pid")}
        processes = {"supervisor": os.getpid(), **{role: self._ready[role]["pid"] for role in self.roles}}
        self.log.info("started", **fields, processes=processes)
        self.log_sink.flush()  # whoever started us waits for this line

    def _prepare_storage(self) -> None:
        """Before any Worker opens them: the queue and bucket databases exist in WAL mode (their
        first opening, by several processes at once, would race for it: "database is locked"), and,
        as the lock proves any unsettled delivery's consumer is dead, its messages are visible again."""
        LocalBucket(self.data_dir / "r2" / BUCKET).close()
        db = self.data_dir / "queues.sqlite"
        redelivered = {}
        for name in queue_names():
            queue = LocalQueue(db, name, visibility_timeout=self.visibility_timeout)
            try:
                redelivered[name] = queue.redeliver_in_flight()
            finally:
                queue.close()
        if any(redelivered.values()):
            self.log.info("redelivered_in_flight", messages=redelivered)

    async def _first_exit(self) -> str:
        """Waits until some Worker exits; says which, and how."""
        waits = {asyncio.ensure_future(proc.wait()): role for role, proc in self.workers.items()}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        task = next(iter(done))
        return f"the {waits[task]} process exited with code {task.result()}"

    async def serve_forever(self, stop: Callable[[], Awaitable[None]]) -> int:
        """Runs until ``stop()`` returns (0) or a Worker dies (1)."""
        await self.start()
        flusher = asyncio.ensure_future(self._flush_logs())
        stopped = asyncio.ensure_future(stop())
        exited = asyncio.ensure_future(self._first_exit())
        try:
            await asyncio.wait({stopped, exited}, return_when=asyncio.FIRST_COMPLETED)
            code = 0
            if exited.done() and not stopped.done():
                self.log.error("worker_exited", reason=exited.result())
                code = 1
            return code
        finally:
            stopped.cancel()
            exited.cancel()
            await self.stop()
            flusher.cancel()
            self.log_sink.flush()

    async def _flush_logs(self) -> None:
        while True:
            await asyncio.sleep(LOG_FLUSH_SECONDS)
            self.log_sink.flush()

    async def stop(self) -> None:
        """The Workers first (each finishes what it is doing, its shard calls still served), then the shards."""
        if self._stopped:
            return
        self._stopped = True
        for proc in self.workers.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                await asyncio.wait_for(proc.wait(), STOP_SECONDS)
            except asyncio.TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        await self.server.close()
        await self.shards.close()
        for queue in self._outbox_queues.values():
            queue.close()
        self.namespace.close()
        self.meter.close()
        shutil.rmtree(self.run_dir, ignore_errors=True)
        self.log_sink.flush()
        self._lock.release()

