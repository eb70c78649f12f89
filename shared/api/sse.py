"""Server-sent events (the WHATWG HTML "event stream" format): framing and the response that carries them.

One event is optional ``event:`` and ``id:`` lines, one ``data:`` line (JSON,
which never holds a newline once compact) and a blank line. A line starting
with ``:`` is a comment: ``keepalive`` sends one while nothing happens, so
proxies that close idle connections (Cloudflare's, after 100 s) keep the
stream open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

from shared.http import HttpResponse

CONTENT_TYPE = "text/event-stream; charset=utf-8"
KEEPALIVE = b": keepalive\n\n"


def event(data: Mapping[str, Any], *, name: str | None = None, event_id: str | int | None = None) -> bytes:
    """One event whose ``data`` is ``data`` as compact JSON."""
    lines = []
    if name is not None:
        lines.append(f"event: {name}")
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def response(stream: AsyncIterator[bytes], headers: Mapping[str, str] | None = None) -> HttpResponse:
    """A 200 that sends ``stream``'s events as they come (no ``Content-Length``, never cached)."""
    out = HttpResponse.empty(200, {
        "Content-Type": CONTENT_TYPE,
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Accel-Buffering": "no",  # nginx and its kin: pass each event on at once
        **(headers or {}),
    })
    out.stream = stream
    return out


def parse(body: bytes) -> list[dict[str, str]]:
    """Events of a whole event-stream body as ``{"event", "id", "data"}`` dicts (comments dropped).

    For tests and clients of this API; it reads what ``event`` writes (one ``data`` line an event).
    """
    events: list[dict[str, str]] = []
    for block in body.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            fields[name] = fields[name] + "\n" + value if name in fields else value
        if "data" in fields:
            events.append(fields)
    return events
