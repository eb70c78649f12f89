"""Structured JSON logs with fixed keys (``worker``, ``event``, ``jobId``, ...).

One line per event on a stream that tests can capture. ``print`` reaches
Workers Logs on Cloudflare and stdout locally.

Each event is one ``write`` of its whole line. ``flush_each`` (the default)
flushes after every event; the local runtime turns it off and hands its
loggers a ``LogBuffer``, which it flushes periodically and on shutdown, so
the hot path does not pay a flush (a write system call) per event.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import Any, Protocol, TextIO

LOG_BUFFER_MAX_LINES = 256
"""A ``LogBuffer`` writes through once it holds this many lines, whatever the period."""
LOG_WRITE_MAX_BYTES = 4096
"""POSIX's smallest ``PIPE_BUF``: a write up to this size reaches a pipe whole, so lines written by
several processes to one pipe never interleave mid-line."""


class TextSink(Protocol):
    """Where log text goes: a text stream's ``write`` and ``flush`` (``sys.stdout``, a file, a console renderer)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class JsonLogger:
    def __init__(self, worker: str, stream: TextIO | LogBuffer | None = None, *, flush_each: bool = True) -> None:
        self.worker = worker
        self._stream = stream
        self._flush_each = flush_each

    def named(self, worker: str) -> JsonLogger:
        """A logger writing as ``worker`` to the same stream."""
        return JsonLogger(worker, self._stream, flush_each=self._flush_each)

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"level": level, "worker": self.worker, "event": event}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, default=str, separators=(",", ":"))
        stream = self._stream or sys.stdout
        stream.write(line + "\n")
        if self._flush_each:
            stream.flush()

    def info(self, event: str, **fields: Any) -> None:
        self.log(event, "info", **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(event, "warning", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(event, "error", **fields)


class LogBuffer:
    """Whole log lines kept in memory until ``flush`` writes them to ``target`` (default
    ``sys.stdout`` as it is at flush time) in one write. Thread-safe: the consumer's
    synthesis may log from worker threads."""

    def __init__(self, target: TextSink | None = None, max_lines: int = LOG_BUFFER_MAX_LINES) -> None:
        self._target = target
        self._max_lines = max_lines
        self._lines: list[str] = []
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self._lines.append(text)
            full = len(self._lines) >= self._max_lines
        if full:
            self.flush()
        return len(text)

    def flush(self) -> None:
        """Writes the waiting lines, whole lines per write and at most ``LOG_WRITE_MAX_BYTES`` a write
        (a longer line alone)."""
        with self._lock:
            lines, self._lines = self._lines, []
            if not lines:
                return
            target = self._target or sys.stdout
            piece: list[str] = []
            size = 0
            for line in lines:
                n = len(line) if line.isascii() else len(line.encode("utf-8"))
                if piece and size + n > LOG_WRITE_MAX_BYTES:
                    target.write("".join(piece))
                    target.flush()
                    piece, size = [], 0
                piece.append(line)
                size += n
            target.write("".join(piece))
            target.flush()

    def isatty(self) -> bool:
        target = self._target or sys.stdout
        return bool(getattr(target, "isatty", lambda: False)())
