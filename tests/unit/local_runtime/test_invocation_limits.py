"""Cloudflare's per-invocation limits on the local runtime (local_runtime/limits.py), on real time.

A queue batch is one invocation: past a limit it ends as on Cloudflare, and
only the messages it had not settled come back, each delivery counting an
attempt. Limits are shrunk here so a test reaches them in a fraction of a
second.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import json
import time
from pathlib import Path

import pytest

from local_runtime import limits
from local_runtime.bindings.queue import LocalQueue, QueueConsumerConfig
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.bindings.r2 import LocalBucket
from local_runtime.runtime import LocalRuntime
from local_runtime.wrangler_config import worker_cpu_ms
from shared.config import LocalSettings, Settings
from shared.http import HttpRequest
from shared.logs import JsonLogger
from shared.ports import IncomingMessage


def limits_for(wall_seconds: float | None = None, memory_mb: int | None = None, **env: str) -> limits.InvocationLimits:
    """A queue consumer's limits from ``env``; a wall time or memory below the settings' floors set directly."""
    made = limits.InvocationLimits.of(
        Settings.from_env(env), LocalSettings.from_env(env), cpu_ms=worker_cpu_ms("synth_consumer", env),
        queue_consumer=True,
    )
    if wall_seconds is not None:
        made = dataclasses.replace(made, wall_seconds=wall_seconds)
    if memory_mb is not None:
        made = dataclasses.replace(made, memory_mb=memory_mb)
    return made


def log_lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


async def run_one_batch(
    tmp_path: Path, handler, limited: limits.InvocationLimits, messages: int = 3  # type: ignore[no-untyped-def]
):
    """Sends ``messages`` messages, lets the runner deliver them as one batch (and any redelivery),
    and stops it once none is left."""
    queue = LocalQueue(tmp_path / "q.sqlite", "q", visibility_timeout=30)
    stream = io.StringIO()
    runner = LocalQueueRunner(
        queue, handler, QueueConsumerConfig(max_batch_size=messages, max_batch_timeout=0),
        poll_interval=0.01, invocation_limits=limited, log=JsonLogger("synth_consumer", stream),
    )
    await queue.send_batch([{"n": n} for n in range(messages)])
    runner.start()
    deadline = time.monotonic() + 10
    while runner.batches == 0 or any(queue.counts().values()):
        assert time.monotonic() < deadline, f"messages left: {queue.counts()}"
        await asyncio.sleep(0.02)
    await runner.stop()
    return queue, log_lines(stream)


async def test_a_batch_past_its_wall_time_is_cut_off_and_only_its_unsettled_messages_come_back(tmp_path: Path) -> None:
    deliveries: list[dict[int, int]] = []

    async def handler(batch: list[IncomingMessage]) -> None:
        deliveries.append({m.body["n"]: m.attempts for m in batch})
        if len(deliveries) > 1:
            return  # a redelivery: done at once (acked by returning)
        first, second, _third = sorted(batch, key=lambda m: m.body["n"])
        first.ack()  # stored: settled now, whatever happens to the invocation
        second.retry(delay_seconds=0)  # retried on its own
        await asyncio.sleep(5)  # the third is still in progress when the wall time runs out

    started = time.monotonic()
    _, logs = await run_one_batch(tmp_path, handler, limits_for(wall_seconds=1))
    assert time.monotonic() - started < 4  # cut off at 1 s, not after the handler's 5 s
    [cut] = [line for line in logs if line["event"] == "limit_exceeded"]
    assert cut["limit"] == "CONSUMER_WALL_SECONDS" and cut["outcome"] == "exceededWallTime"
    assert cut["messages"] == 3 and cut["unsettled"] == 1
    assert deliveries[0] == {0: 1, 1: 1, 2: 1}
    # The acked one never again; the retried one and the cut-off one once more, each delivery counted.
    assert {n: a for d in deliveries[1:] for n, a in d.items()} == {1: 2, 2: 2}


async def test_a_cut_off_message_past_its_retries_goes_to_the_dead_letter_queue(tmp_path: Path) -> None:
    db = tmp_path / "q.sqlite"
    queue, dlq = LocalQueue(db, "q"), LocalQueue(db, "q-dlq")

    async def slow(batch: list[IncomingMessage]) -> None:
        await asyncio.sleep(5)

    runner = LocalQueueRunner(
        queue, slow, QueueConsumerConfig(max_batch_size=1, max_batch_timeout=0, max_retries=1, dead_letter_queue="q-dlq"),
        poll_interval=0.01, invocation_limits=limits_for(wall_seconds=1),
    )
    await queue.send({"n": 0})
    runner.start()
    deadline = time.monotonic() + 10
    while not dlq.counts()["ready"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await runner.stop()
    [dead] = await dlq.pull_batch()
    assert dead.body == {"n": 0} and runner.batches == 2  # two deliveries, both cut off


async def test_a_subrequest_past_the_limit_ends_the_invocation_even_if_the_code_catches_it(tmp_path: Path) -> None:
    sends: list[str] = []

    async def handler(batch: list[IncomingMessage]) -> None:
        if batch[0].attempts > 1:
            return  # the redelivery
        other = LocalQueue(tmp_path / "other.sqlite", "other")
        for n in range(10):
            try:
                await other.send({"n": n})  # a queue send: one subrequest each
                sends.append("sent")
            except Exception as exc:  # what a Worker's own error handling would do  # noqa: BLE001
                sends.append(repr(exc))
        for message in batch:
            message.ack()

    _, logs = await run_one_batch(tmp_path, handler, limits_for(WORKER_SUBREQUESTS="4"), messages=2)
    assert sends == ["sent"] * 4  # the fifth raised, and ended the invocation: no ack was reached
    [line] = [entry for entry in logs if entry["event"] == "limit_exceeded"]
    assert line["limit"] == "WORKER_SUBREQUESTS" and line["error"] == limits.SUBREQUEST_ERROR
    assert line["subrequests"] == 5 and line["unsettled"] == 2


async def test_cpu_past_the_limit_ends_the_invocation_child_tasks_counted(tmp_path: Path) -> None:
    async def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass
        await asyncio.sleep(0)

    async def handler(batch: list[IncomingMessage]) -> None:
        if batch[0].attempts > 1:
            return
        await asyncio.gather(spin(0.15), spin(0.15))  # 300 ms of CPU in two child tasks
        await asyncio.sleep(2)  # never over: the invocation ends at the step that passes its limit
        for message in batch:
            message.ack()

    started = time.monotonic()
    _, logs = await run_one_batch(tmp_path, handler, limits_for(WORKER_CPU_MS="200"), messages=2)
    assert time.monotonic() - started < 2
    [line] = [entry for entry in logs if entry["event"] == "limit_exceeded"]
    assert line["limit"] == "WORKER_CPU_MS" and line["outcome"] == "exceededCpu"
    assert line["error"] == limits.CPU_ERROR and 200 < line["cpuMs"] < 1000


async def test_payloads_past_the_memory_estimate_end_the_invocation(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path / "r2")

    async def put_one(n: int) -> None:
        await bucket.put(f"k{n}", bytes(1024 * 1024), content_type="audio/wav", custom_metadata={})
        await asyncio.sleep(0.2)  # held while the others are put

    async def handler(batch: list[IncomingMessage]) -> None:
        if batch[0].attempts > 1:
            return
        await asyncio.gather(*(put_one(n) for n in range(3)))  # three tasks of 1 MiB, 3 copies: 9 MiB

    _, logs = await run_one_batch(tmp_path, handler, limits_for(memory_mb=8), messages=2)
    [line] = [entry for entry in logs if entry["event"] == "limit_exceeded"]
    assert line["limit"] == "WORKER_MEMORY_MB" and line["error"] == limits.MEMORY_ERROR
    bucket.close()


async def test_enforcement_off_lets_the_invocation_run_past_every_limit(tmp_path: Path) -> None:
    done: list[int] = []

    async def handler(batch: list[IncomingMessage]) -> None:
        other = LocalQueue(tmp_path / "other.sqlite", "other")
        for n in range(5):
            await other.send({"n": n})
        await asyncio.sleep(1.5)
        done.append(len(batch))

    off = limits_for(wall_seconds=1, ENFORCE_CLOUDFLARE_LIMITS="0", WORKER_SUBREQUESTS="2")
    _, logs = await run_one_batch(tmp_path, handler, off, messages=2)
    assert done == [2] and not [entry for entry in logs if entry["event"] == "limit_exceeded"]


async def test_an_acked_message_stays_acked_when_the_handler_then_raises(tmp_path: Path) -> None:
    deliveries: list[list[int]] = []

    async def handler(batch: list[IncomingMessage]) -> None:
        deliveries.append(sorted(m.body["n"] for m in batch))
        if len(deliveries) == 1:
            next(m for m in batch if m.body["n"] == 0).ack()
            raise RuntimeError("provider down")

    await run_one_batch(tmp_path, handler, limits_for(), messages=2)
    assert deliveries == [[0, 1], [1]]


async def test_an_api_request_past_its_subrequests_gets_cloudflares_error_page(tmp_path: Path) -> None:
    stream = io.StringIO()
    env = {"WORKER_SUBREQUESTS": "1", "DEFAULT_MODEL": "tone"}
    runtime = LocalRuntime(tmp_path, env, port=0, log_stream=stream, cron_interval=0)
    try:
        body = json.dumps({"text": "Hello"}).encode()
        request = HttpRequest.build("POST", "/v1/jobs", headers={"Content-Type": "application/json"}, body=body)
        response = await runtime.handle(request)  # a submit makes Durable Object calls and a queue send
        assert (response.status, bytes(response.body)) == (500, b"error code: 1101")
        models = await runtime.handle(HttpRequest.build("GET", "/v1/models"))  # no subrequest: served
        assert models.status == 200
    finally:
        await runtime.stop()
    [line] = [entry for entry in log_lines(stream) if entry.get("event") == "limit_exceeded"]
    assert line["worker"] == "api" and line["limit"] == "WORKER_SUBREQUESTS" and line["path"] == "/v1/jobs"


@pytest.mark.parametrize("value", ["0", "false"])
def test_enforce_cloudflare_limits_reads_off(value: str) -> None:
    assert not limits_for(ENFORCE_CLOUDFLARE_LIMITS=value).enforce
    assert limits_for().enforce and limits_for().wall_seconds == 900 and limits_for().subrequests == 10_000
    assert limits_for().cpu_ms == 300_000  # synth_consumer's wrangler.toml [limits] cpu_ms
    assert limits_for(WORKER_CPU_MS="50").cpu_ms == 50
