"""`tts-pipeline dev` runs each Worker in its own process, as on Cloudflare (local_runtime/processes.py).

The supervisor hosts the Durable Object shards (the only process with their
files open: one writer each) and the api, consumer and reaper are processes
of their own; the meter counts them all; they die with the supervisor, and
the runtime stops with an error when one of them dies. ``--single-process``
keeps the old layout.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

WORKERS = ("api", "consumer", "reaper")


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in pids if alive(pid)]
        if not left:
            return []
        time.sleep(0.05)
    return [pid for pid in pids if alive(pid)]


def open_files(pid: int) -> list[str]:
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            out.append(os.readlink(fd))
        except OSError:
            continue
    return out


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path / "data", env={"CRON_INTERVAL_SECONDS": "3600"}).start()
    try:
        yield p
    finally:
        p.kill()


def test_each_worker_is_a_process_and_only_the_supervisor_opens_the_shards(pipeline: Pipeline) -> None:
    processes = pipeline.started["processes"]
    assert pipeline.process is not None and processes["supervisor"] == pipeline.process.pid
    assert len({processes[role] for role in ("supervisor", *WORKERS)}) == 4
    for role in WORKERS:
        cmdline = Path(f"/proc/{processes[role]}/cmdline").read_bytes().split(b"\0")
        assert cmdline[cmdline.index(b"--role") + 1] == role.encode()
    job = pipeline.submit(model="tone")
    assert pipeline.wait(job["jobId"])["status"] == "completed"
    shards_dir = str(pipeline.data_dir.resolve() / "do")
    held = {role: [f for f in open_files(processes[role]) if f.startswith(shards_dir)] for role in processes}
    assert held["supervisor"], "the supervisor hosts the shards"
    assert all(not held[role] for role in WORKERS), held
    assert any(f.endswith("queues.sqlite") for f in open_files(processes["consumer"]))


def test_the_meter_counts_what_every_process_did(pipeline: Pipeline) -> None:
    job = pipeline.submit(model="tone")
    assert pipeline.wait(job["jobId"])["status"] == "completed"
    meter = pipeline.request("GET", "/__meter").json()  # answered by the api process
    assert meter["queue.write"] >= 1  # the api's send
    assert meter["queue.read"] >= 1 and meter["r2.class_a"] >= 1  # the consumer's delivery and put
    assert meter["do.rows_written"] >= 3  # create, claim, complete: written by the supervisor
    assert meter["do.requests"] >= 4  # create + status polls (api), claim + complete (consumer)


def test_the_consumer_listens_for_the_other_processes_sends(pipeline: Pipeline) -> None:
    # A send in the api (or the reaper) wakes the consumer at once, not at its next poll of the
    # queue (tests/unit/local_runtime/test_queue_wake.py shows the wake; here, that it is wired).
    inodes = {f[len("socket:["):-1] for f in open_files(pipeline.started["processes"]["consumer"]) if f.startswith("socket:[")}
    rows = [line.split() for line in Path("/proc/net/unix").read_text().splitlines()[1:]]
    bound = {row[7] for row in rows if len(row) > 7 and row[6] in inodes}  # Inode, Path
    for queue in ("tts-jobs", "tts-jobs-dlq", "tts-webhooks"):
        assert any(path.endswith(f"/wake-{queue}") for path in bound), (queue, sorted(bound))
    job = pipeline.submit(model="tone")
    assert pipeline.wait(job["jobId"])["status"] == "completed"


def test_killing_the_supervisor_takes_its_workers_and_a_restart_goes_on(pipeline: Pipeline) -> None:
    processes = pipeline.started["processes"]
    assert pipeline.process is not None
    pipeline.process.kill()  # SIGKILL to the supervisor alone, not its process group
    pipeline.process.wait(10)
    pipeline.process = None
    assert wait_gone([processes[role] for role in WORKERS]) == []
    restarted = Pipeline(pipeline.data_dir, env=pipeline.env).start()  # the data dir's lock is free
    try:
        job = restarted.submit(model="tone")
        assert restarted.wait(job["jobId"])["status"] == "completed"
    finally:
        restarted.kill()


def test_a_worker_that_dies_stops_the_runtime_with_an_error(pipeline: Pipeline) -> None:
    processes = pipeline.started["processes"]
    os.kill(processes["consumer"], signal.SIGKILL)
    assert pipeline.process is not None
    assert pipeline.process.wait(30) == 1
    assert wait_gone([processes["api"], processes["reaper"]]) == []
    time.sleep(0.2)  # the log drain thread
    assert any('"event":"worker_exited"' in line and "consumer process" in line for line in pipeline.log_lines)
    pipeline.process = None


def test_sigterm_stops_the_workers_before_the_shards_so_work_in_progress_finishes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    p = Pipeline(data).start()
    try:
        job = p.submit("many words " * 2_000, model="tone")  # long enough to be caught mid-synthesis
        p.wait(job["jobId"], until=("processing", "completed"))
        assert p.process is not None
        p.process.terminate()
        assert p.process.wait(30) == 0
        p.process = None
        restarted = Pipeline(data).start()
        try:
            done = restarted.wait(job["jobId"])
            assert done["status"] == "completed" and done["attempts"] == 1, done
        finally:
            restarted.kill()
    finally:
        p.kill()


def test_single_process_keeps_every_worker_in_one_process(tmp_path: Path) -> None:
    p = Pipeline(tmp_path / "data", dev_args=["--single-process"]).start()
    try:
        assert "processes" not in p.started
        assert p.process is not None
        children = [c for t in Path(f"/proc/{p.process.pid}/task").iterdir() for c in (t / "children").read_text().split()]
        assert children == []
        job = p.submit(model="tone")
        assert p.wait(job["jobId"])["status"] == "completed"
        meter = p.request("GET", "/__meter").json()
        assert meter["queue.read"] >= 1 and meter["do.rows_written"] >= 3
    finally:
        p.kill()


def test_a_fresh_data_dir_starts_every_time(tmp_path: Path) -> None:
    # Three Workers opening new SQLite files at once raced for WAL mode ("database is locked"):
    # the supervisor now makes them before any Worker starts.
    for n in range(4):
        p = Pipeline(tmp_path / f"data-{n}").start()
        p.stop()


async def test_a_worker_that_cannot_start_stops_the_others_and_frees_the_data_dir(tmp_path: Path) -> None:
    from local_runtime.data_dir_lock import DataDirLock
    from local_runtime.processes import SplitRuntime, WorkerExitedError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        runtime = SplitRuntime(tmp_path, {**os.environ, "CRON_INTERVAL_SECONDS": "0"}, port=port,
                               log_stream=io.StringIO())
        with pytest.raises(WorkerExitedError, match="the api process exited"):
            await runtime.start()
    assert all(proc.returncode is not None for proc in runtime.workers.values())
    assert not runtime.run_dir.exists()
    DataDirLock.acquire(tmp_path).release()  # free again
