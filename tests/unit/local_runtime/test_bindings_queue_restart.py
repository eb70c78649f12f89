"""A restarted local runtime gets the dead process's unsettled deliveries back at once."""

from __future__ import annotations

from pathlib import Path

from local_runtime.bindings.queue import LocalQueue, QueueConsumerConfig


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


async def test_redeliver_in_flight_makes_unsettled_messages_visible_now(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "q.sqlite"
    queue = LocalQueue(db, "jobs", clock=clock, visibility_timeout=30)
    await queue.send({"n": 1})
    await queue.send({"n": 2})
    config = QueueConsumerConfig(max_batch_size=1, max_retries=3)
    first = await queue.pull_batch(config)  # delivered to a process that then dies
    queue.close()

    restarted = LocalQueue(db, "jobs", clock=clock, visibility_timeout=30)
    assert restarted.redeliver_in_flight() == 1
    again = await restarted.pull_batch(QueueConsumerConfig(max_batch_size=10, max_retries=3))
    assert [(m.id, m.attempts) for m in again if m.id == first[0].id] == [(first[0].id, 2)]
    assert restarted.redeliver_in_flight() == 2  # the ones just pulled count as in flight too


async def test_a_redelivered_message_past_its_last_delivery_is_still_dead_lettered(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "q.sqlite"
    queue = LocalQueue(db, "jobs", clock=clock, visibility_timeout=30)
    dlq = LocalQueue(db, "dlq", clock=clock, visibility_timeout=30)
    await queue.send({"n": 1})
    config = QueueConsumerConfig(max_batch_size=1, max_retries=0, dead_letter_queue="dlq")
    await queue.pull_batch(config)  # its only allowed delivery; the process dies
    assert queue.redeliver_in_flight() == 1
    assert await queue.pull_batch(config) == []
    assert [m.body for m in await dlq.pull_batch(QueueConsumerConfig())] == [{"n": 1}]


async def test_a_redelivered_message_keeps_its_place_ahead_of_the_ones_sent_after_it(tmp_path: Path) -> None:
    """Oldest first: the work a dead process held is not put behind everything sent since."""
    clock = Clock()
    db = tmp_path / "q.sqlite"
    queue = LocalQueue(db, "jobs", clock=clock, visibility_timeout=30)
    await queue.send({"n": 1})
    config = QueueConsumerConfig(max_batch_size=1, max_retries=3)
    held = await queue.pull_batch(config)  # delivered to a process that then dies
    for n in (2, 3):
        clock.now += 1
        await queue.send({"n": n})
    queue.close()

    clock.now += 5
    restarted = LocalQueue(db, "jobs", clock=clock, visibility_timeout=30)
    assert restarted.redeliver_in_flight() == 1
    order = [(await restarted.pull_batch(config))[0].body["n"] for _ in range(3)]
    assert order == [1, 2, 3]
    assert held[0].body == {"n": 1}
