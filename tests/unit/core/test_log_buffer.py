"""Logs on the hot path: one whole JSON line per event, no flush per event (shared/logs.py)."""

from __future__ import annotations

import io
import json
import threading

from shared.logs import LOG_WRITE_MAX_BYTES, JsonLogger, LogBuffer


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.flushes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1


def test_a_buffered_logger_writes_nothing_until_flushed_then_every_line_in_one_write() -> None:
    target = CountingStream()
    buffer = LogBuffer(target)
    log = JsonLogger("api", buffer, flush_each=False)
    for n in range(10):
        log.info("job_created", jobId=str(n))
    assert (target.writes, target.flushes) == (0, 0)
    buffer.flush()
    assert (target.writes, target.flushes) == (1, 1)
    lines = target.getvalue().splitlines()
    assert [json.loads(line)["jobId"] for line in lines] == [str(n) for n in range(10)]
    buffer.flush()  # nothing held: nothing written
    assert target.writes == 1


def test_a_full_buffer_writes_through() -> None:
    target = CountingStream()
    log = JsonLogger("api", LogBuffer(target, max_lines=4), flush_each=False)
    for n in range(9):
        log.info("e", n=n)
    assert target.writes == 2 and len(target.getvalue().splitlines()) == 8


def test_lines_from_threads_stay_whole() -> None:
    target = io.StringIO()
    buffer = LogBuffer(target, max_lines=7)
    log = JsonLogger("synth_consumer", buffer, flush_each=False)
    threads = [threading.Thread(target=lambda: [log.info("e", text="x" * 100) for _ in range(200)]) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer.flush()
    lines = target.getvalue().splitlines()
    assert len(lines) == 800 and all(json.loads(line)["text"] == "x" * 100 for line in lines)


def test_the_default_logger_flushes_each_event_in_one_write() -> None:
    target = CountingStream()
    JsonLogger("reaper", target).info("run", n=1)
    assert (target.writes, target.flushes) == (1, 1)


class RecordingStream(io.StringIO):
    """Remembers each write, as a pipe shared by several processes sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.pieces: list[str] = []

    def write(self, text: str) -> int:
        self.pieces.append(text)
        return super().write(text)


def test_each_write_is_whole_lines_within_a_pipes_atomic_size() -> None:
    target = RecordingStream()
    buffer = LogBuffer(target)
    log = JsonLogger("api", buffer, flush_each=False)
    for n in range(100):
        log.info("request", n=n, path="/v1/jobs/" + "é" * (n % 7) * 10)
    log.info("huge", text="x" * 10_000)  # longer than a pipe's atomic write: written alone
    buffer.flush()
    assert len(target.pieces) > 2
    for piece in target.pieces:
        assert piece.endswith("\n")
        assert len(piece.encode()) <= LOG_WRITE_MAX_BYTES or piece.count("\n") == 1
    lines = target.getvalue().splitlines()
    assert [json.loads(line).get("n") for line in lines[:100]] == list(range(100))
    assert json.loads(lines[100])["text"] == "x" * 10_000
