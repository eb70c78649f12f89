"""A send in one process wakes the queue's consumer in another (local_runtime/queue_wake.py):
the split runtime's api sends, the consumer's runner looks at once instead of at its next poll."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from local_runtime.bindings.queue import LocalQueue, QueueConsumerConfig
from local_runtime.bindings.queue_runner import LocalQueueRunner
from local_runtime.queue_wake import WakeListener, WakeSender, wake_path
from shared.ports import IncomingMessage


async def test_a_send_in_another_process_wakes_the_runner_long_before_its_poll(tmp_path: Path) -> None:
    db = tmp_path / "queues.sqlite"
    got = asyncio.Event()

    async def handler(messages: list[IncomingMessage]) -> None:
        got.set()

    runner = LocalQueueRunner(LocalQueue(db, "jobs"), handler, QueueConsumerConfig(max_batch_size=1, max_batch_timeout=0),
                              poll_interval=60)
    with tempfile.TemporaryDirectory(prefix="tts-") as run_dir:
        listener = WakeListener(wake_path(Path(run_dir), "jobs"), runner.wake)
        runner.start()
        listener.start()
        try:
            await asyncio.sleep(0.1)  # the runner is asleep on its 60 s poll
            code = (
                "import asyncio; from pathlib import Path;"
                "from local_runtime.bindings.queue import LocalQueue;"
                "from local_runtime.queue_wake import WakeSender, wake_path;"
                f"q = LocalQueue({str(db)!r}, 'jobs');"
                f"s = WakeSender(q.db_path, 'jobs', wake_path(Path({run_dir!r}), 'jobs'));"
                "asyncio.run(q.send({'n': 1})); s.close(); q.close()"
            )
            await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code], check=True)
            await asyncio.wait_for(got.wait(), 5)
        finally:
            listener.close()
            await runner.stop()
            runner.queue.close()


def test_a_wake_with_no_one_listening_is_nothing(tmp_path: Path) -> None:
    queue = LocalQueue(tmp_path / "queues.sqlite", "jobs")
    sender = WakeSender(queue.db_path, "jobs", tmp_path / "no-listener")
    try:
        asyncio.run(queue.send({"n": 1}))  # the send's wake goes nowhere, and the send is kept
        assert queue.counts()["ready"] == 1
    finally:
        sender.close()
        queue.close()
