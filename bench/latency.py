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

``local`` and ``workerd`` run the build before (the previous batch rule, kept
as settings: ``LOCAL_VARIANTS`` / ``WORKERD_VARIANTS``) and this build side by
side, started together and measured in turns, so both see the same load; the
load average is recorded over the measurement. On workerd each delivery is
one consumer invocation, counted from wrangler's log: invocations per job at
low, steady and burst traffic are what a ``max_batch_timeout`` costs.

Every wait is bounded: a probe gives up after ``PROBE_TIMEOUT_SECONDS`` (a
job that never completes, an event stream that only keeps itself alive), a
request after ``REQUEST_TIMEOUT_SECONDS``, and each traffic level stops
counting deliveries after its own timeout and says so (``unsettled``), so a
stuck runtime costs minutes, not the whole run.

    python -m bench.latency --runtime workerd --rounds 10 --write   # the workerd lone-job table in docs/benchmarks.md
    python -m bench.latency --runtime local --rounds 15             # print only
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

PATHS = ("prefer", "wait", "events", "speech")
TEXT = "A lone short job, number {n}."
"""Each job's text is its own: the same text again would be a synthesis cache hit, completed by the api
at submit without the queue (shared/api/cached.py), which is not the path measured here."""
_SERIAL = itertools.count(1)


def _text() -> str:
    return TEXT.format(n=next(_SERIAL))
WAIT_SECONDS = 30
PROBE_TIMEOUT_SECONDS = 90.0
"""A probe whose job is not completed by then raises ``TimeoutError``."""
REQUEST_TIMEOUT_SECONDS = 60.0
"""Each socket read or write of a request (longer than ``WAIT_SECONDS``, which a ``?wait`` may hold)."""
ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"


class _Client:
    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)

    def call(self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
             ) -> tuple[int, bytes]:
        head = {"Content-Type": "application/json"} if body is not None else {}
        head.update(headers or {})
        self.conn.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=head)
        response = self.conn.getresponse()
        return response.status, response.read()

    def submit(self, headers: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
        status, body = self.call("POST", "/v1/jobs", {"text": _text(), "model": "tone"}, headers)
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
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while job.get("status") != "completed":
        if time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} not completed in {PROBE_TIMEOUT_SECONDS:g} s ({job.get('status')})")
        if job.get("status") in ("failed", "canceled"):
            raise RuntimeError(f"job {job_id} {job.get('status')}")
        status, body = client.call("GET", f"/v1/jobs/{job_id}?wait={WAIT_SECONDS}")
        if status != 200:
            raise RuntimeError(f"?wait answered {status}: {body[:300]!r}")
        job = json.loads(body)


def _events(client: _Client) -> None:
    _, job = client.submit()
    conn = HTTPConnection("127.0.0.1", client.port, timeout=REQUEST_TIMEOUT_SECONDS)
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    try:
        conn.request("GET", f"/v1/jobs/{job['jobId']}/events", headers={"Accept": "text/event-stream"})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"events answered {response.status}: {response.read()[:300]!r}")
        while True:
            if time.monotonic() > deadline:  # a stream that only sends keep-alive comments
                raise TimeoutError(f"job {job['jobId']}: no completed event in {PROBE_TIMEOUT_SECONDS:g} s")
            line = response.readline()
            if not line:
                raise RuntimeError("the event stream ended before the job completed")
            if line.startswith(b"data:") and json.loads(line[5:]).get("status") == "completed":
                return
    finally:
        conn.close()


def _speech(client: _Client) -> None:
    status, body = client.call("POST", "/v1/audio/speech", {"model": "tone", "input": _text(), "voice": "alloy",
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


# --- variants, interleaved ------------------------------------------------------

LOCAL_VARIANTS: dict[str, dict[str, str]] = {
    # The rule before: every batch waits max_batch_timeout (wrangler.toml's 1 s then) to fill, idle or not.
    "before": {"QUEUE_WAIT_WHEN_IDLE": "1", "QUEUE_MAX_BATCH_TIMEOUT": "1"},
    "after": {},  # this build: an idle consumer starts at once; wrangler.toml's window
}
WORKERD_VARIANTS: dict[str, dict[str, str]] = {
    "before": {"QUEUE_MAX_BATCH_TIMEOUT": "1"},  # wrangler.toml's max_batch_timeout before
    "after": {},  # this build's wrangler.toml
}


def _load() -> float:
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def interleaved(ports: dict[str, int], rounds: int) -> dict[str, Any]:
    """``rounds`` rounds; in each, one lone job per path on each variant, variant after variant."""
    for port in ports.values():
        lone_jobs(port, 1, pause=0.05)  # warm: first requests load code and open files
    out: dict[str, dict[str, list[float]]] = {name: {path: [] for path in PATHS} for name in ports}
    loads = [_load()]
    for _ in range(rounds):
        for name, port in ports.items():
            for path, values in lone_jobs(port, 1).items():
                out[name][path] += values
        loads.append(_load())
    return {"ms": out, "rounds": rounds, "load": [min(loads), max(loads)]}


def local(rounds: int, work_dir: Path) -> dict[str, Any]:
    """The local runtime: each variant a runtime process, all running at once, measured in turn."""
    from bench.runtime_proc import RuntimeProcess

    runtimes = {name: RuntimeProcess(work_dir / f"lone-{name}", env) for name, env in LOCAL_VARIANTS.items()}
    try:
        for runtime in runtimes.values():
            runtime.start()
        result = interleaved({name: r.port for name, r in runtimes.items()}, rounds)
    finally:
        for runtime in runtimes.values():
            runtime.stop()
    result["env"] = LOCAL_VARIANTS
    return result


_BATCH = re.compile(r"QUEUE tts-jobs (\d+)/(\d+)")


def _batches(log: Path) -> list[int]:
    """The jobs queue's deliveries wrangler logged (``QUEUE tts-jobs n/m (t ms)``): each one invocation."""
    return [int(m.group(2)) for m in _BATCH.finditer(log.read_text(errors="replace"))]


def _log_of(server: Any) -> Path:
    """Where a workerd dev server writes wrangler's output."""
    log = server.log_path
    if log is None:
        raise RuntimeError("the workerd server logs to a pipe, not a file")
    return Path(log)


def _steady(port: int, rate: float, seconds: float) -> int:
    """Submit ``rate`` jobs a second for ``seconds``, without waiting on them; how many were sent.

    Stops at ``seconds`` whatever the submits' latency: a submit that starts late is not made up for."""
    client = _Client(port)
    began = time.monotonic()
    sent = 0
    while time.monotonic() - began < seconds:
        due = began + sent / rate
        if due - began >= seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        client.submit()
        sent += 1
    client.conn.close()
    return sent


def _burst(port: int, jobs: int, clients: int) -> int:
    shares = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]

    def send(n: int) -> None:
        client = _Client(port)
        for _ in range(n):
            client.submit()
        client.conn.close()

    threads = [threading.Thread(target=send, args=(n,)) for n in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return jobs


def _settle(log: Path, expected: int, timeout: float) -> tuple[list[int], bool]:
    """The deliveries logged once they hold ``expected`` messages, or at ``timeout``; and whether they did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = _batches(log)
        if sum(seen) >= expected:
            return seen, True
        time.sleep(0.2)
    seen = _batches(log)
    return seen, sum(seen) >= expected


def workerd(rounds: int, work_dir: Path, *, steady_rate: float = 5.0, steady_seconds: float = 8.0,
            burst_jobs: int = 100) -> dict[str, Any]:
    """``tts-pipeline dev --runtime workerd``, each variant its own, started together, measured in turn;
    then each variant's consumer invocations per job at three traffic levels: lone jobs (the rounds),
    a steady ``steady_rate`` jobs/s, and a burst of ``burst_jobs`` from 16 clients."""
    from bench.workerd import Server

    servers = {name: Server(work_dir / f"workerd-{name}", env) for name, env in WORKERD_VARIANTS.items()}
    try:
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(lambda s: s.start(), servers.values()))
        logs = {name: _log_of(s) for name, s in servers.items()}
        before = {name: len(_batches(log)) for name, log in logs.items()}
        before_jobs = {name: sum(_batches(log)) for name, log in logs.items()}
        result = interleaved({name: s.port for name, s in servers.items()}, rounds)
        invocations: dict[str, dict[str, float]] = {}
        unsettled: dict[str, list[str]] = {}
        for name, server in servers.items():
            steady_level, burst_level = f"steady {steady_rate:g}/s", f"burst of {burst_jobs}"
            lone_seen, lone_ok = _settle(_log_of(server), before_jobs[name] + rounds * len(PATHS) + len(PATHS), 30)
            lone = lone_seen[before[name]:]
            steady_sent = _steady(server.port, steady_rate, steady_seconds)
            steady_seen, steady_ok = _settle(_log_of(server), sum(lone_seen) + steady_sent, 120)
            steady = steady_seen[len(lone_seen):]
            _burst(server.port, burst_jobs, 16)
            burst_seen, burst_ok = _settle(_log_of(server), sum(steady_seen) + burst_jobs, 300)
            burst = burst_seen[len(steady_seen):]
            invocations[name] = {
                "lone": len(lone) / max(1, sum(lone)),
                steady_level: len(steady) / max(1, sum(steady)),
                burst_level: len(burst) / max(1, sum(burst)),
            }
            late = [lv for lv, ok in (("lone", lone_ok), (steady_level, steady_ok), (burst_level, burst_ok)) if not ok]
            if late:
                unsettled[name] = late
        result["invocations_per_job"] = invocations
        if unsettled:  # deliveries still missing at the level's timeout: its figure counts what was logged
            result["unsettled"] = unsettled
    finally:
        for server in servers.values():
            server.stop()
    result["env"] = WORKERD_VARIANTS
    return result


# --- where a lone job's time goes (workerd) --------------------------------------

_LOGGED_MS = re.compile(r"(POST /v1/jobs|QUEUE tts-jobs) \S+ (?:OK )?\((\d+)ms\)")


def _stamp(value: object) -> float:
    from datetime import datetime

    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def phases(port: int, log: Path, n: int, pause: float = 0.3) -> dict[str, list[float]]:
    """``n`` lone ``Prefer: wait`` jobs, each cut in phases (ms): from the job record's own times
    (``createdAt``, ``startedAt``, ``completedAt``, as the Workers' clocks saw them) and the client's,
    and wrangler's log of the submit request and of the consumer invocation that ran the job."""
    client = _Client(port)
    out: dict[str, list[float]] = {k: [] for k in (
        "total", "submit to created", "created to started", "started to completed", "completed to client",
        "POST /v1/jobs (wrangler)", "QUEUE tts-jobs invocation (wrangler)")}
    for _ in range(n):
        time.sleep(pause)
        seen = len(_LOGGED_MS.findall(log.read_text(errors="replace")))
        began = time.time()
        _, job = client.submit({"Prefer": f"wait={WAIT_SECONDS}"})
        ended = time.time()
        if job.get("status") != "completed":
            raise RuntimeError(f"Prefer: wait answered {job.get('status')}")
        created, started, completed = (_stamp(job[k]) for k in ("createdAt", "startedAt", "completedAt"))
        out["total"].append((ended - began) * 1000)
        out["submit to created"].append((created - began) * 1000)
        out["created to started"].append((started - created) * 1000)
        out["started to completed"].append((completed - started) * 1000)
        out["completed to client"].append((ended - completed) * 1000)
        time.sleep(0.2)  # wrangler logs the request after the response
        for what, ms in _LOGGED_MS.findall(log.read_text(errors="replace"))[seen:]:
            key = "POST /v1/jobs (wrangler)" if what.startswith("POST") else "QUEUE tts-jobs invocation (wrangler)"
            out[key].append(float(ms))
    client.conn.close()
    return out


def workerd_phases(n: int, work_dir: Path) -> dict[str, Any]:
    """``phases`` on one workerd runtime with this build's wrangler.toml; the load average over it."""
    from bench.workerd import Server

    server = Server(work_dir / "workerd-phases", {})
    try:
        server.start()
        lone_jobs(server.port, 1, pause=0.05, paths=("prefer",))  # warm
        loads = [_load()]
        result = phases(server.port, _log_of(server), n)
        loads.append(_load())
    finally:
        server.stop()
    return {"ms": result, "n": n, "load": [min(loads), max(loads)]}


# --- one phase alone -------------------------------------------------------------

WORKERD_HEADING = "### workerd (`tts-pipeline dev --runtime workerd`)"


def write_workerd_table(result: dict[str, Any], command: str, doc: Path = DOC) -> None:
    """Replace the workerd part of docs/benchmarks.md's lone-job section (from its heading to the next
    ``## `` heading) with ``result``, rendered as ``python -m bench`` renders it."""
    from bench import report

    text = doc.read_text()
    if WORKERD_HEADING not in text:
        raise SystemExit(f"{doc}: no {WORKERD_HEADING!r} heading to replace")
    head, rest = text.split(WORKERD_HEADING, 1)
    tail = rest[rest.index("\n## "):] if "\n## " in rest else "\n"
    body = report.lone_workerd(result, command)
    doc.write_text(head + "\n".join(body).rstrip("\n") + "\n" + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=("local", "workerd"), default="workerd")
    parser.add_argument("--rounds", type=int, default=10, help="lone jobs per path and variant")
    parser.add_argument("--steady-rate", type=float, default=5.0, help="workerd: jobs/s of the steady level")
    parser.add_argument("--steady-seconds", type=float, default=8.0)
    parser.add_argument("--burst-jobs", type=int, default=100)
    parser.add_argument("--phases", type=int, default=0, metavar="N",
                        help="workerd: instead, N lone jobs on this build cut in phases (job record and wrangler's log)")
    parser.add_argument("--json", type=Path, help="also write the raw result here")
    parser.add_argument("--write", action="store_true",
                        help="workerd: rewrite the workerd lone-job table of docs/benchmarks.md")
    args = parser.parse_args(argv)
    import statistics
    import tempfile

    if args.phases:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as work:
            cut = workerd_phases(args.phases, Path(work))
        if args.json:
            args.json.write_text(json.dumps(cut, indent=1))
        print(json.dumps({"load": cut["load"], "n": cut["n"], "p50_ms": {
            k: round(statistics.median(v), 1) for k, v in cut["ms"].items() if v}}, indent=1))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as work:
        if args.runtime == "local":
            result = local(args.rounds, Path(work))
        else:
            result = workerd(args.rounds, Path(work), steady_rate=args.steady_rate,
                             steady_seconds=args.steady_seconds, burst_jobs=args.burst_jobs)
    given = list(argv if argv is not None else sys.argv[1:])
    if "--json" in given:  # where the raw result went is not part of the command that measures
        at = given.index("--json")
        del given[at : at + 2]
    result["command"] = "python -m bench.latency " + " ".join(given)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    print(json.dumps({"load": result["load"], "p50_ms": {
        name: {path: round(statistics.median(v), 1) for path, v in paths.items() if v}
        for name, paths in result["ms"].items()}, "invocations_per_job": result.get("invocations_per_job"),
        "unsettled": result.get("unsettled")}, indent=1))
    if args.write and args.runtime == "workerd":
        write_workerd_table(result, result["command"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
