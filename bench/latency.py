"""A lone short job, submit to completed, by every path a client has, against any running runtime.

The four paths a client can wait on, each timed from just before its submit
to the moment the client holds the completed job (or, for speech, the audio):

- ``prefer``: ``POST /v1/jobs`` with ``Prefer: wait=N``; one request;
- ``wait``: ``POST /v1/jobs``, then ``GET /v1/jobs/{id}?wait=N`` until it says completed;
- ``events``: ``POST /v1/jobs``, then ``GET /v1/jobs/{id}/events`` read until a completed event;
- ``speech``: ``POST /v1/audio/speech`` (OpenAI's route), the whole audio body read.

The paths take turns (one job of each, round after round, with a pause
between jobs so that each is alone), so load from other work on the machine
falls on all of them alike. Works over plain HTTP on a loopback port, so the
same code measures the local runtime and ``tts-pipeline dev --runtime workerd``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from http.client import HTTPConnection

PATHS = ("prefer", "wait", "events", "speech")
TEXT = "A lone short job."
WAIT_SECONDS = 30


class _Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = HTTPConnection("127.0.0.1", port, timeout=120)

    def call(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
             ) -> tuple[int, bytes]:
        head = {"Content-Type": "application/json"} if body is not None else {}
        head.update(headers or {})
        self.conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=head)
        response = self.conn.getresponse()
        return response.status, response.read()

    def submit(self, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
        status, body = self.call("POST", "/v1/jobs", {"text": TEXT, "model": "tone"}, headers)
        if status not in (200, 201, 202):
            raise RuntimeError(f"submit answered {status}: {body[:300]!r}")
        return status, json.loads(body)


def _prefer(client: _Client) -> None:
    _, job = client.submit({"Prefer": f"wait={WAIT_SECONDS}"})
    if job.get("status") != "completed":
        raise RuntimeError(f"Prefer: wait answered {job.get('status')}")


def _wait(client: _Client) -> None:
    _, job = client.submit()
    job_id = job["jobId"]
    while job.get("status") != "completed":
        if job.get("status") in ("failed", "canceled"):
            raise RuntimeError(f"job {job_id} {job.get('status')}")
        status, body = client.call("GET", f"/v1/jobs/{job_id}?wait={WAIT_SECONDS}")
        if status != 200:
            raise RuntimeError(f"?wait answered {status}: {body[:300]!r}")
        job = json.loads(body)


def _events(client: _Client) -> None:
    _, job = client.submit()
    conn = HTTPConnection("127.0.0.1", client.port, timeout=120)
    try:
        conn.request("GET", f"/v1/jobs/{job['jobId']}/events", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"events answered {response.status}: {response.read()[:300]!r}")
        while True:
            line = response.readline()
            if not line:
                raise RuntimeError("the event stream ended before the job completed")
            if line.startswith(b"data:") and json.loads(line[5:]).get("status") == "completed":
                return
    finally:
        conn.close()


def _speech(client: _Client) -> None:
    status, body = client.call("POST", "/v1/audio/speech", {"model": "tone", "input": TEXT, "voice": "alloy",
                                                            "response_format": "wav"})
    if status != 200 or not body:
        raise RuntimeError(f"speech answered {status}: {body[:300]!r}")


PROBES: dict[str, Callable[[_Client], None]] = {"prefer": _prefer, "wait": _wait, "events": _events,
                                                "speech": _speech}


def lone_jobs(port: int, rounds: int, pause: float = 0.15, paths: tuple[str, ...] = PATHS) -> dict[str, list[float]]:
    """``rounds`` lone jobs by each path, interleaved; milliseconds from submit to completed, per path."""
    client = _Client(port)
    out: dict[str, list[float]] = {path: [] for path in paths}
    for _ in range(rounds):
        for path in paths:
            time.sleep(pause)  # the previous job and its settlement are over: this one is alone
            began = time.perf_counter()
            PROBES[path](client)
            out[path].append((time.perf_counter() - began) * 1000)
    client.conn.close()
    return out
