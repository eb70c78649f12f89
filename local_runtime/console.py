"""What ``tts-pipeline dev`` prints: readable lines for a person, JSON lines for machines.

The runtime logs JSON lines (``shared.logs.JsonLogger``, as Workers Logs get
them on Cloudflare). ``--log-format text`` passes them through ``TextLogStream``,
which turns each into one short line: the start as "Serving on URL (open it
in a browser)", each request as "12:00:01 POST /v1/jobs 202 3 ms", other
events as "12:00:01 synth_consumer job_completed jobId=...". ``json`` keeps
the lines as they are; ``auto`` (the default) is text on a terminal and JSON
otherwise, so scripts and the test harness read JSON.

Also here: the one-line refusal of a port that is already taken.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import time
from typing import Any, TextIO

LOG_FORMATS = ("auto", "text", "json")


def resolve_log_format(choice: str, stream: TextIO) -> str:
    """``auto`` -> ``text`` on a terminal, else ``json``."""
    if choice != "auto":
        return choice
    return "text" if stream.isatty() else "json"


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (0: never; any port is free)."""
    if port == 0:
        return False
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        return False  # the server's own bind reports a bad host
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


class TextLogStream:
    """A text stream taking the runtime's JSON log lines and writing readable ones to ``out``."""

    def __init__(self, out: TextIO | None = None) -> None:
        self._out = out
        self._pending = ""

    @property
    def out(self) -> TextIO:
        return self._out or sys.stdout

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            if line:
                self.out.write(render(line) + "\n")
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return self.out.isatty()


def render(line: str) -> str:
    """One JSON log line as a readable one (a line that is not a JSON object passes unchanged)."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    event = record.pop("event", "")
    level = record.pop("level", "info")
    worker = record.pop("worker", "")
    if event == "started":
        return _started(record)
    stamp = time.strftime("%H:%M:%S")
    mark = "" if level == "info" else f"{level.upper()} "
    if event == "request":
        return f"{stamp} {mark}{record.get('method')} {record.get('path')} {record.get('status')} {record.get('ms')} ms"
    fields = " ".join(f"{key}={_value(value)}" for key, value in record.items())
    return f"{stamp} {mark}{worker} {event} {fields}".rstrip()


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _started(record: dict[str, Any]) -> str:
    url = str(record.get("url", "")).rstrip("/") + "/"
    default = record.get("defaultModel")
    models = ", ".join(f"{m} (default)" if m == default else str(m) for m in record.get("models") or [])
    lines = [f"Serving on {url} (open it in a browser)"]
    if models:
        lines.append(f"  models: {models}")
    if record.get("auth"):
        lines.append(f"  auth:   {record['auth']}")
    if record.get("dataDir"):
        lines.append(f"  data:   {record['dataDir']}")
    lines.append("Press Ctrl-C to stop. Requests are logged below (--log-format json for JSON lines).")
    return "\n".join(lines)
