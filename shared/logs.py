"""Structured JSON logs with fixed keys (``worker``, ``event``, ``jobId``, ...).

One line per event on a stream that tests can capture. ``print`` reaches
Workers Logs on Cloudflare and stdout locally.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


class JsonLogger:
    def __init__(self, worker: str, stream: TextIO | None = None) -> None:
        self.worker = worker
        self._stream = stream

    def log(self, event: str, level: str = "info", **fields: Any) -> None:
        record = {"level": level, "worker": self.worker, "event": event}
        record.update({k: v for k, v in fields.items() if v is not None})
        line = json.dumps(record, default=str, separators=(",", ":"))
        stream = self._stream or sys.stdout
        print(line, file=stream, flush=True)

    def info(self, event: str, **fields: Any) -> None:
        self.log(event, "info", **fields)

    def warning(self, event: str, **fields: Any) -> None:
        self.log(event, "warning", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.log(event, "error", **fields)
