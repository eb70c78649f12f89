"""Background loops never die silently: a storage error in a queue runner's pull or in the
cron loop is reported (``LoopHealth``, hence ``/healthz``), retried with backoff, and the loop
recovers by itself once the cause is gone."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import time
from pathlib import Path

from local_runtime.bindings.queue import LocalQueue, Outcome, QueueConsumerConfig
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.runtime import LocalRuntime
from local_runtime.supervision import Backoff, LoopHealth
from shared.http import HttpRequest
from shared.logs import JsonLogger
from shared.ports import IncomingMessage


async def until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_backoff_doubles_up_to_its_limit_and_resets() -> None:
    backoff = Backoff(start=0.5, limit=4.0)
    assert [backoff.next() for _ in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


async def test_a_locked_queue_database_pauses_the_runner_which_recovers_when_the_lock_is_released(
    tmp_path: Path,
) -> None:
    # GIVEN a queue with a message, and another connection holding the database's write lock
    db = tmp_path / "q.sqlite"
    queue = LocalQueue(db, "q", busy_timeout=0.1)
    await queue.send({"n": 1})
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    logs = io.StringIO()
    health = LoopHealth(JsonLogger("runtime", logs))
    got: list[IncomingMessage] = []

    async def handler(messages: list[IncomingMessage]) -> dict[str, Outcome] | None:
        got.extend(messages)
        return None

    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_timeout=0.01), health=health)
    runner.start()
    try:
        # WHEN the runner tries to pull: THEN it reports the failure and keeps trying
        await until(lambda: any(f["loop"] == "queue:q" for f in health.failing()))
        [failure] = health.failing()
        assert "locked" in failure["error"] and failure["retryInSeconds"] > 0
        assert got == [] and runner._task is not None and not runner._task.done()
        # WHEN the lock is released: THEN the same loop delivers the message and is healthy again
        blocker.execute("ROLLBACK")
        await until(lambda: len(got) == 1)
        await until(lambda: health.failing() == [])
    finally:
        blocker.close()
        await runner.stop()
        queue.close()
    events = [json.loads(line)["event"] for line in logs.getvalue().splitlines()]
    assert "loop_failed" in events and "loop_recovered" in events


async def test_healthz_answers_503_naming_the_failing_loop_then_200(tmp_path: Path) -> None:
    env = {"SHARD_COUNT": "1", "CRON_INTERVAL_SECONDS": "0", "JOB_RATE_LIMIT": "0"}
    runtime = LocalRuntime(tmp_path, env, port=0, log_stream=io.StringIO(), cron_interval=0)

    async def healthz() -> tuple[int, dict]:  # type: ignore[type-arg]
        response = await runtime.handle(HttpRequest.build("GET", "/healthz", base_url="http://127.0.0.1"))
        return response.status, json.loads(response.body)

    assert await healthz() == (200, {"ok": True})
    runtime.health.failed("queue:tts-jobs", sqlite3.OperationalError("database is locked"), 2.0)
    status, body = await healthz()
    assert status == 503 and body["ok"] is False
    assert [f["loop"] for f in body["failing"]] == ["queue:tts-jobs"]
    assert "database is locked" in body["failing"][0]["error"]
    runtime.health.ok("queue:tts-jobs")
    assert await healthz() == (200, {"ok": True})


async def test_a_failing_cron_run_is_reported_retried_and_recovers(tmp_path: Path) -> None:
    env = {"SHARD_COUNT": "1", "JOB_RATE_LIMIT": "0"}
    runtime = LocalRuntime(tmp_path, env, port=0, log_stream=io.StringIO(), cron_interval=0.2)
    assert runtime.namespace is not None
    shard = runtime.namespace.get("shard-0")
    await runtime.start()
    try:
        # The reaper keeps its run lease in shard-0: with its database read-only, every run fails.
        shard._conn.execute("PRAGMA query_only = 1")
        await until(lambda: any(f["loop"] == "cron" for f in runtime.health.failing()))
        shard._conn.execute("PRAGMA query_only = 0")
        await until(lambda: runtime.health.failing() == [], timeout=15)
    finally:
        await runtime.stop()
