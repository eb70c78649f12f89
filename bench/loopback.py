"""HTTP for the benchmarks, on httpx: one call, or a keep-alive client, to a runtime on loopback.

Rule: proxies and .netrc are never read (``trust_env=False``): a benchmark talks to the process it
started. The throughput load generators (bench/throughput.py) keep ``http.client``, whose lower CPU
per request leaves more of the machine's two cores to the runtime they measure.
"""

from __future__ import annotations

import json
from typing import Any

import httpx


def client(port: int, timeout: float = 120.0) -> httpx.Client:
    """A keep-alive client for ``http://127.0.0.1:port`` (close it, or use it in a ``with``)."""
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=timeout, trust_env=False)


def call(
    port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
    timeout: float = 120.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection: (status, lower-case headers, body); ``body`` goes as JSON."""
    with client(port, timeout) as http:
        reply = http.request(method, path, content=_json(body), headers=_headers(body, headers))
        return reply.status_code, {k.lower(): v for k, v in reply.headers.items()}, reply.content


def send(http: httpx.Client, method: str, path: str, body: Any = None,
         headers: dict[str, str] | None = None) -> httpx.Response:
    """One request on ``http``'s connection, ``body`` as JSON."""
    return http.request(method, path, content=_json(body), headers=_headers(body, headers))


def _json(body: Any) -> bytes | None:
    return json.dumps(body).encode() if body is not None else None


def _headers(body: Any, headers: dict[str, str] | None) -> dict[str, str]:
    sent = dict(headers or {})
    if body is not None:
        sent.setdefault("Content-Type", "application/json")
    return sent
