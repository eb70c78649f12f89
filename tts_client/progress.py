"""Progress display for ``wait``: a live bar on a terminal, plain lines elsewhere.

Only the standard error stream is written, so ``--json`` and ``-o -`` keep
standard output clean for scripts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

from tts_client.models import JobView, Progress, progress_of

_FANCY = {"spinner": "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", "full": "█", "empty": "░", "ok": "✔", "bad": "✘"}
_PLAIN = {"spinner": "|/-\\", "full": "#", "empty": "-", "ok": "+", "bad": "x"}
BAR_WIDTH = 24
FRAME_SECONDS = 0.1


def _symbols(stream: TextIO) -> dict[str, str]:
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "".join(_FANCY.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _PLAIN
    return _FANCY


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:02d}:{secs:02d}"


def bar(progress: Progress, width: int = BAR_WIDTH, full: str = "#", empty: str = "-") -> str:
    filled = round(progress.fraction * width)
    return full * filled + empty * (width - filled)


class ProgressReporter:
    """Call ``update`` with each polled view; pass ``sleep`` to ``Client.wait`` so the bar keeps moving."""

    def __init__(
        self,
        stream: TextIO,
        *,
        live: bool,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.stream = stream
        self.live = live
        self._clock = clock
        self._sleep = sleep
        self._start = clock()
        self._sym = _symbols(stream) if live else _PLAIN
        self._frame = 0
        self._job: JobView | None = None
        self._last_line: str | None = None
        self._width = 0

    def update(self, job: JobView) -> None:
        self._job = job
        if self.live:
            self._draw()
            return
        line = self._plain_line(job)
        if line != self._last_line:
            print(line, file=self.stream, flush=True)
            self._last_line = line

    def sleep(self, seconds: float) -> None:
        if not self.live:
            self._sleep(seconds)
            return
        end = self._clock() + seconds
        while (left := end - self._clock()) > 0:
            self._sleep(min(FRAME_SECONDS, left))
            self._frame += 1
            self._draw()

    def close(self) -> None:
        """Leave the bar's last state on its own line."""
        if self.live and self._job is not None:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()

    def _plain_line(self, job: JobView) -> str:
        progress = progress_of(job)
        parts = [f"job {job.job_id}: {job.status.value}"]
        if progress is not None:
            parts.append(f"{percent(progress)} ({progress.done}/{progress.total} chunks)")
        if job.error:
            parts.append(f"({job.error})")
        return " ".join(parts)

    def _draw(self, final: bool = False) -> None:
        job = self._job
        if job is None:
            return
        sym = self._sym
        status = job.status
        progress = progress_of(job)
        if status.value == "completed" and progress is None:
            progress = Progress(1, 1)
        parts: list[str]
        if status.is_terminal:
            parts = [sym["ok"] if status.value == "completed" else sym["bad"], f"{status.value:<10}"]
        elif status.value == "queued":
            spinner = sym["spinner"]
            parts = [spinner[self._frame % len(spinner)], f"{status.value:<10}"]  # a spinner only while queued
        else:
            parts = [" ", f"{status.value:<10}"]
        if progress is not None:
            parts += [bar(progress, full=sym["full"], empty=sym["empty"]), f"{percent(progress):>4}"]
            if progress.total > 1:
                parts.append(f"{progress.done}/{progress.total} chunks")
        elif status.value == "processing":
            parts.append(pulse(self._frame, full=sym["full"], empty=sym["empty"]))  # one request: no count to show
        parts.append(_clock_text(self._clock() - self._start))
        if final and job.error:
            parts.append(f"- {job.error}")
        line = " ".join(parts)
        pad = " " * max(0, self._width - len(line))
        self._width = len(line)
        self.stream.write(f"\r{line}{pad}")
        self.stream.flush()


def percent(progress: Progress) -> str:
    return f"{int(progress.fraction * 100)}%"


def pulse(frame: int, width: int = BAR_WIDTH, block: int = 4, full: str = "#", empty: str = "-") -> str:
    """An indeterminate bar: a block sweeping back and forth, one cell per frame."""
    span = width - block
    position = frame % (2 * span) if span > 0 else 0
    start = position if position <= span else 2 * span - position
    return empty * start + full * block + empty * (width - block - start)
