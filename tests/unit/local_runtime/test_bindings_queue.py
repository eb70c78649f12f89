"""The durable local queue (local_runtime.bindings.queue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.queue import LocalQueue, Outcome, QueueConsumerConfig
from shared.errors import BoundaryError, LimitExceededError
from shared.ports import IncomingMessage


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def meter() -> Meter:
    return Meter()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "queues.sqlite"


@pytest.fixture
def queue(db: Path, meter: Meter, clock: FakeClock) -> LocalQueue:
    return LocalQueue(db, "tts-jobs", meter, clock)


async def test_send_pull_ack(queue: LocalQueue, clock: FakeClock) -> None:
    body = {"v": 1, "jobId": "j1", "shard": "shard-0"}
    await queue.send(body)
    [message] = await queue.pull_batch(QueueConsumerConfig())
    assert isinstance(message, IncomingMessage)
    assert (message.body, message.attempts, message.timestamp) == (body, 1, clock.now)
    assert message.lease_until == clock.now + 30
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 1}
    assert await queue.settle(message.id, Outcome.ack())
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}
    assert not await queue.settle(message.id, Outcome.ack())  # already gone


async def test_batches_are_capped_and_oldest_first(queue: LocalQueue) -> None:
    await queue.send_batch([{"n": i} for i in range(25)])
    config = QueueConsumerConfig(max_batch_size=10)
    sizes, seen = [], []
    while batch := await queue.pull_batch(config):
        sizes.append(len(batch))
        seen += [m.body["n"] for m in batch]
    assert sizes == [10, 10, 5]
    assert seen == list(range(25))


async def test_producer_limits(queue: LocalQueue) -> None:
    with pytest.raises(LimitExceededError, match="0..86400"):
        await queue.send({}, delay_seconds=86_401)
    with pytest.raises(LimitExceededError):
        await queue.send({}, delay_seconds=-1)
    with pytest.raises(LimitExceededError, match="101 messages, over the limit of 100"):
        await queue.send_batch([{}] * 101)
    big = "x" * 100_000
    with pytest.raises(LimitExceededError, match="over the limit of 256000"):
        await queue.send_batch([big, big, big])
    with pytest.raises(BoundaryError, match="^body: 128011 bytes"):
        await queue.send({"text": "x" * 128_000})
    with pytest.raises(BoundaryError, match=r"^bodies\[1\]\.ids: tuple is not allowed"):
        await queue.send_batch([{}, {"ids": ("a", "b")}])
    with pytest.raises(BoundaryError, match="^body: bytes"):
        await queue.send(b"raw")
    await queue.send_batch([])
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}


def test_consumer_config_limits() -> None:
    QueueConsumerConfig(max_batch_size=100, max_batch_timeout=60, max_retries=100, retry_delay=86_400)
    for bad in (
        {"max_batch_size": 0}, {"max_batch_size": 101}, {"max_batch_timeout": 61},
        {"max_retries": 101}, {"max_retries": -1}, {"retry_delay": 86_401},
    ):
        with pytest.raises(LimitExceededError):
            QueueConsumerConfig(**bad)  # type: ignore[arg-type]
    with pytest.raises(LimitExceededError):
        Outcome.retry(86_401)


async def test_own_dead_letter_queue_is_refused(queue: LocalQueue) -> None:
    with pytest.raises(ValueError, match="its own dead-letter queue"):
        await queue.pull_batch(QueueConsumerConfig(dead_letter_queue="tts-jobs"))


async def test_send_delay_is_honoured(queue: LocalQueue, clock: FakeClock) -> None:
    await queue.send({"late": True}, delay_seconds=60)
    await queue.send({"late": False})
    assert queue.counts() == {"ready": 1, "delayed": 1, "in_flight": 0}
    [now] = await queue.pull_batch()
    assert now.body == {"late": False}
    await queue.settle(now.id, Outcome.ack())
    clock.advance(59.9)
    assert await queue.pull_batch() == []
    clock.advance(0.1)
    assert [m.body for m in await queue.pull_batch()] == [{"late": True}]


async def test_retry_delay_and_attempt_counting(queue: LocalQueue, clock: FakeClock) -> None:
    config = QueueConsumerConfig(max_retries=5, retry_delay=7)
    await queue.send({"n": 1})
    [first] = await queue.pull_batch(config)
    await queue.settle(first.id, Outcome.retry(30))
    assert queue.counts()["delayed"] == 1
    clock.advance(29)
    assert await queue.pull_batch(config) == []
    clock.advance(1)
    [second] = await queue.pull_batch(config)
    assert (second.id, second.attempts) == (first.id, 2)
    await queue.settle(second.id, Outcome.retry())  # the consumer's retry_delay
    clock.advance(6.9)
    assert await queue.pull_batch(config) == []
    clock.advance(0.1)
    [third] = await queue.pull_batch(config)
    assert third.attempts == 3


async def test_dead_letter_after_max_retries(db: Path, queue: LocalQueue, meter: Meter, clock: FakeClock) -> None:
    dlq = LocalQueue(db, "tts-jobs-dlq", meter, clock)
    config = QueueConsumerConfig(max_retries=2, dead_letter_queue="tts-jobs-dlq")
    await queue.send({"jobId": "j"})
    attempts = []
    for _ in range(3):
        [message] = await queue.pull_batch(config)
        attempts.append(message.attempts)
        await queue.settle(message.id, Outcome.retry(0))
    assert attempts == [1, 2, 3]  # first delivery plus max_retries
    assert await queue.pull_batch(config) == []
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}
    [dead] = await dlq.pull_batch()
    assert (dead.id, dead.body, dead.attempts) == (message.id, {"jobId": "j"}, 1)


async def test_exhausted_message_without_dead_letter_queue_is_dropped(queue: LocalQueue) -> None:
    config = QueueConsumerConfig(max_retries=0)
    await queue.send({})
    [message] = await queue.pull_batch(config)
    await queue.settle(message.id, Outcome.retry())
    assert queue.counts() == {"ready": 0, "delayed": 0, "in_flight": 0}


async def test_settle_batch_implicit_rule(queue: LocalQueue) -> None:
    config = QueueConsumerConfig(max_retries=10)
    await queue.send_batch([{"n": i} for i in range(3)])
    a, b, c = await queue.pull_batch(config)
    # The handler returned: explicit retries are retried, everything else is acked.
    await queue.settle_batch([a, b, c], handler_failed=False, outcomes={a.id: Outcome.retry()})
    assert [(m.id, m.attempts) for m in await queue.pull_batch(config)] == [(a.id, 2)]
    await queue.settle(a.id, Outcome.ack())

    await queue.send_batch([{"n": i} for i in range(3)])
    a, b, c = await queue.pull_batch(config)
    # The handler raised: explicit acks hold, everything else is retried.
    await queue.settle_batch([a.id, b.id, c.id], handler_failed=True, outcomes={a.id: Outcome.ack()})
    again = await queue.pull_batch(config)
    assert sorted((m.id, m.attempts) for m in again) == sorted([(b.id, 2), (c.id, 2)])


async def test_stale_settle_after_redelivery_is_ignored(queue: LocalQueue, clock: FakeClock) -> None:
    await queue.send({})
    [first] = await queue.pull_batch()
    clock.advance(30)  # lease runs out without a settle: redelivered
    [second] = await queue.pull_batch()
    assert (second.id, second.attempts) == (first.id, 2)
    assert not await queue.settle(first.id, Outcome.ack(), attempts=first.attempts)
    await queue.settle_batch([first], handler_failed=False)
    assert queue.counts()["in_flight"] == 1
    assert await queue.settle(second.id, Outcome.ack(), attempts=second.attempts)


async def test_extend_leases_keeps_a_slow_batch(queue: LocalQueue, clock: FakeClock) -> None:
    await queue.send({})
    batch = await queue.pull_batch()
    clock.advance(25)
    await queue.extend_leases(batch)
    clock.advance(25)
    assert await queue.pull_batch() == []
    clock.advance(5)
    assert [m.attempts for m in await queue.pull_batch()] == [2]


async def test_expired_lease_on_last_attempt_goes_to_the_dead_letter_queue(
    db: Path, queue: LocalQueue, clock: FakeClock
) -> None:
    config = QueueConsumerConfig(max_retries=1, dead_letter_queue="dlq")
    await queue.send({"x": 1})
    await queue.pull_batch(config)
    clock.advance(30)
    assert [m.attempts for m in await queue.pull_batch(config)] == [2]
    clock.advance(30)  # the consumer died again, on its last allowed delivery
    assert await queue.pull_batch(config) == []
    assert [m.body for m in await LocalQueue(db, "dlq", clock=clock).pull_batch()] == [{"x": 1}]


async def test_queued_and_in_flight_messages_survive_reopen(db: Path, clock: FakeClock) -> None:
    first = LocalQueue(db, "q", clock=clock)
    await first.send_batch([{"n": 0}, {"n": 1}, {"n": 2}])
    await first.send({"n": 3}, delay_seconds=100)
    leased = await first.pull_batch(QueueConsumerConfig(max_batch_size=2))
    first.close()

    again = LocalQueue(db, "q", clock=clock)
    assert again.counts() == {"ready": 1, "delayed": 1, "in_flight": 2}
    [third] = await again.pull_batch()
    assert third.body == {"n": 2}
    await again.settle(third.id, Outcome.ack())
    clock.advance(30)  # the dead process's leases run out
    back = await again.pull_batch()
    assert sorted((m.id, m.attempts) for m in back) == sorted((m.id, 2) for m in leased)
    await again.settle_batch(back, handler_failed=False)
    clock.advance(70)
    assert [m.body for m in await again.pull_batch()] == [{"n": 3}]


async def test_queues_in_one_file_are_separate(db: Path, clock: FakeClock) -> None:
    a, b = LocalQueue(db, "a", clock=clock), LocalQueue(db, "b", clock=clock)
    await a.send("for a")
    await b.send("for b")
    assert [m.body for m in await a.pull_batch()] == ["for a"]
    assert [m.body for m in await b.pull_batch()] == ["for b"]


async def test_meter_counts_64_kb_chunks(queue: LocalQueue, meter: Meter) -> None:
    await queue.send({"t": "x" * 100_000})  # two 64 KB chunks
    await queue.send({"t": "small"})
    batch = await queue.pull_batch()
    await queue.settle_batch(batch, handler_failed=False)
    assert meter.snapshot() == {"queue.write": 3, "queue.read": 3, "queue.delete": 3}


_PRODUCER = textwrap.dedent(
    """
    import asyncio, sys
    from local_runtime.bindings.queue import LocalQueue

    async def main():
        queue = LocalQueue(sys.argv[1], "q")
        i = 0
        while True:
            await queue.send({"n": i, "pad": "x" * 1000})
            print(i, flush=True)
            i += 1

    asyncio.run(main())
    """
)


def test_kill_9_loses_no_sent_message(db: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _PRODUCER, str(db)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert proc.stdout is not None
    confirmed = [int(proc.stdout.readline()) for _ in range(200)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    counts = LocalQueue(db, "q").counts()
    assert counts["ready"] >= len(confirmed) == 200
