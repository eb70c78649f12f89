"""The local consumer loop (local_runtime.bindings.queue_runner), on real time."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.queue import LocalQueue, Outcome, QueueConsumerConfig
from local_runtime.bindings.queue_runner import LocalQueueRunner
from shared.ports import IncomingMessage


class Recorder:
    """A handler that records batches and answers from a script."""

    def __init__(self, answer=None, delay: float = 0.0) -> None:  # type: ignore[no-untyped-def]
        self.batches: list[list[IncomingMessage]] = []
        self.times: list[float] = []
        self.answer = answer
        self.delay = delay
        self.got = asyncio.Event()

    async def __call__(self, messages: list[IncomingMessage]) -> dict[str, Outcome] | None:
        self.batches.append(messages)
        self.times.append(time.monotonic())
        self.got.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answer(messages) if self.answer else None

    async def wait(self, batches: int, timeout: float = 5.0) -> None:
        async def until() -> None:
            while len(self.batches) < batches:
                self.got.clear()
                await self.got.wait()

        await asyncio.wait_for(until(), timeout)


async def test_full_batch_is_delivered_without_waiting_for_the_timeout(tmp_path: Path) -> None:
    meter = Meter()
    queue = LocalQueue(tmp_path / "q.sqlite", "q", meter)
    handler = Recorder()
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_size=5, max_batch_timeout=30))
    runner.start()
    start = time.monotonic()
    await queue.send_batch([{"n": i} for i in range(5)])
    await handler.wait(1)
    assert handler.times[0] - start < 2
    assert [m.body["n"] for m in handler.batches[0]] == [0, 1, 2, 3, 4]
    await runner.stop()
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}  # implicitly acked
    assert meter.get("worker.invocations") == 1


async def test_an_idle_consumer_takes_a_lone_message_at_once(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder()
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_size=10, max_batch_timeout=30))
    runner.start()
    await asyncio.sleep(0.05)
    start = time.monotonic()
    await queue.send({"n": 0})
    await handler.wait(1)
    assert handler.times[0] - start < 1  # not the 30 s window: nothing else is in progress
    assert [m.body["n"] for m in handler.batches[0]] == [0]
    await runner.stop()


async def test_a_busy_consumer_fills_its_next_batch_until_the_timeout(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder(delay=1.0)  # the first batch is still in progress when the second is taken
    config = QueueConsumerConfig(max_batch_size=10, max_batch_timeout=0.4, max_concurrency=2)
    runner = LocalQueueRunner(queue, handler, config)
    runner.start()
    await queue.send({"n": 0})
    await handler.wait(1)
    start = time.monotonic()
    await queue.send({"n": 1})
    await asyncio.sleep(0.1)
    await queue.send({"n": 2})
    await handler.wait(2)
    assert 0.35 <= handler.times[1] - start < 0.9  # busy: the second batch waited for the window
    assert [[m.body["n"] for m in b] for b in handler.batches] == [[0], [1, 2]]
    await runner.stop()


async def test_a_waiting_batch_starts_when_the_batch_in_progress_ends(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder(delay=0.3)
    config = QueueConsumerConfig(max_batch_size=10, max_batch_timeout=30, max_concurrency=2)
    runner = LocalQueueRunner(queue, handler, config)
    runner.start()
    await queue.send({"n": 0})
    await handler.wait(1)
    await queue.send({"n": 1})
    await handler.wait(2)
    # Not the 30 s window: the consumer became idle when the first batch ended, 0.3 s after it began.
    assert 0.2 <= handler.times[1] - handler.times[0] < 2
    await runner.stop()


async def test_partial_batch_waits_for_the_batch_timeout_when_told_to_wait_as_cloudflare(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder()
    config = QueueConsumerConfig(max_batch_size=10, max_batch_timeout=0.4, wait_when_idle=True)
    runner = LocalQueueRunner(queue, handler, config)
    runner.start()
    start = time.monotonic()
    await queue.send({"n": 0})
    await asyncio.sleep(0.1)
    await queue.send({"n": 1})
    await handler.wait(1)
    assert 0.35 <= handler.times[0] - start < 2
    assert [m.body["n"] for m in handler.batches[0]] == [0, 1]
    await runner.stop()


async def test_failing_handler_retries_then_dead_letters(tmp_path: Path) -> None:
    db = tmp_path / "q.sqlite"
    queue, dlq = LocalQueue(db, "q"), LocalQueue(db, "q-dlq")

    async def boom(messages: list[IncomingMessage]) -> None:
        attempts.append(messages[0].attempts)
        raise RuntimeError("provider down")

    attempts: list[int] = []
    dead = Recorder()
    config = QueueConsumerConfig(max_batch_timeout=0, max_retries=2, dead_letter_queue="q-dlq")
    runners = [
        LocalQueueRunner(queue, boom, config, poll_interval=0.05),
        LocalQueueRunner(dlq, dead, QueueConsumerConfig(max_batch_timeout=0)),
    ]
    for runner in runners:
        runner.start()
    await queue.send({"jobId": "j"})
    await dead.wait(1)
    assert attempts == [1, 2, 3]
    assert [(m.body, m.attempts) for m in dead.batches[0]] == [({"jobId": "j"}, 1)]
    for runner in runners:
        await runner.stop()
    assert queue.counts() == dlq.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}


async def test_explicit_outcomes_win(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder(answer=lambda ms: {ms[0].id: Outcome.retry(0)} if ms[0].attempts == 1 else {})
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_size=2, max_batch_timeout=0.1))
    runner.start()
    await queue.send_batch([{"n": 0}, {"n": 1}])
    await handler.wait(2)
    await runner.stop()
    assert [[(m.body["n"], m.attempts) for m in b] for b in handler.batches] == [[(0, 1), (1, 1)], [(0, 2)]]
    assert queue.counts()["ready"] == 0


async def test_send_from_another_instance_wakes_the_runner(tmp_path: Path) -> None:
    db = tmp_path / "q.sqlite"
    handler = Recorder()
    runner = LocalQueueRunner(LocalQueue(db, "q"), handler, QueueConsumerConfig(max_batch_size=1), poll_interval=30)
    runner.start()
    await asyncio.sleep(0.05)
    await LocalQueue(db, "q").send("hello")
    await handler.wait(1, timeout=2)  # far sooner than the 30 s poll
    await runner.stop()


async def test_delayed_messages_are_found_by_polling(tmp_path: Path) -> None:
    now = [1000.0]
    queue = LocalQueue(tmp_path / "q.sqlite", "q", clock=lambda: now[0])
    handler = Recorder()
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_timeout=0), poll_interval=0.05)
    runner.start()
    await queue.send("later", delay_seconds=600)
    await asyncio.sleep(0.2)
    assert handler.batches == []
    now[0] += 600
    await handler.wait(1, timeout=2)
    await runner.stop()


async def test_idle_runner_does_not_spin(tmp_path: Path) -> None:
    runner = LocalQueueRunner(LocalQueue(tmp_path / "q.sqlite", "q"), Recorder())
    runner.start()
    cpu = time.process_time()
    await asyncio.sleep(0.6)
    assert time.process_time() - cpu < 0.2
    await runner.stop()


async def test_stop_lets_the_batch_in_progress_finish(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    handler = Recorder(delay=0.3)
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_timeout=0))
    runner.start()
    await queue.send("x")
    await handler.wait(1)
    await runner.stop()
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}
    await runner.stop()  # a second stop is harmless


async def test_slow_handler_keeps_its_leases(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q", visibility_timeout=0.6)
    handler = Recorder(delay=2.0)
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_timeout=0))
    runner.start()
    await queue.send("slow")
    await handler.wait(1)
    await asyncio.sleep(1.3)  # twice the lease: without renewals it would be visible again
    assert queue.ready_count() == 0
    await runner.stop()
    assert len(handler.batches) == 1
    assert queue.counts()["in_flight"] == 0


async def test_messages_of_a_cancelled_runner_come_back(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q", visibility_timeout=0.2)
    handler = Recorder(delay=10)
    runner = LocalQueueRunner(queue, handler, QueueConsumerConfig(max_batch_timeout=0))
    task = runner.start()
    await queue.send("x")
    await handler.wait(1)
    task.cancel()  # like a crash: nothing is settled
    await asyncio.gather(task, return_exceptions=True)
    await asyncio.sleep(0.25)
    [again] = await queue.pull_batch()
    assert again.attempts == 2


async def test_max_concurrency_runs_that_many_batches_at_once_and_stop_waits_for_them(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "q.sqlite", "q")
    running = 0
    most = 0
    finished: list[int] = []

    async def handler(messages: list[IncomingMessage]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.2)
        running -= 1
        finished.extend(m.body["n"] for m in messages)

    config = QueueConsumerConfig(max_batch_size=2, max_batch_timeout=0, max_concurrency=3)
    runner = LocalQueueRunner(queue, handler, config, poll_interval=0.01)
    await queue.send_batch([{"n": n} for n in range(12)])
    runner.start()
    await asyncio.sleep(0.1)
    await runner.stop()  # the batches in progress finish and are settled
    assert most == 3
    assert len(finished) == 6 and queue.counts()["ready"] == 6  # three batches of two were taken, then none
    assert queue.counts().get("in_flight", 0) == 0
    queue.close()


def test_max_concurrency_has_cloudflares_range() -> None:
    import pytest

    from shared.errors import LimitExceededError

    for bad in (0, 251):
        with pytest.raises(LimitExceededError):
            QueueConsumerConfig(max_concurrency=bad)
