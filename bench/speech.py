"""``python -m bench.speech``: a short tone job four ways, on both runtimes: latency and requests.

The ways a client gets a job's audio:

1. ``POST /v1/audio/speech`` (OpenAI's route): one request, the audio in the answer;
2. ``POST /v1/jobs`` with ``Prefer: wait=30``, then ``GET .../audio``;
3. ``POST /v1/jobs``, ``GET /v1/jobs/{id}?wait=30`` until completed, then ``GET .../audio``;
4. ``POST /v1/jobs``, ``GET /v1/jobs/{id}`` every ``--poll`` seconds until completed, then the audio.

For each: client-side latency from the first request to the last audio byte
(p50, p99), the HTTP requests the client made (each a Worker request on
Cloudflare), and on the local runtime the Durable Object requests the
runtime made (its meter, ``/__meter``: every shard RPC, the consumer's
included). The workerd runtime has no meter; it runs the same ``shared/``
code, so its shard RPCs per job are the same calls. The jobs run one after
another, so submit to completed includes the consumer's batch window (1 s,
synth_consumer's ``max_batch_timeout``, on both runtimes), the same for every way.

Writes its section of docs/benchmarks.md between the ``speech`` markers
(``python -m bench`` keeps it). One run on this machine, not an assertion.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import loopback, sections
from bench.runtime_proc import RuntimeProcess
from bench.workerd import Server, pct

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("speech")
TEXT = "Hello"
# The same text every job: with the synthesis cache on, every job after the first would be a hit
# completed at submit, and the queue this measures would never be used.
ENV = {"DEFAULT_MODEL": "tone", "JOB_RATE_LIMIT": "0", "MAX_JOBS_IN_FLIGHT": "0", "CRON_INTERVAL_SECONDS": "0",
       "SYNTHESIS_CACHE": "off"}


class Counting:
    """One keep-alive connection that counts its requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.http = loopback.client(port, timeout=120)
        self.requests = 0

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        sent = dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/json"
        self.requests += 1
        response = loopback.send(self.http, method, path, body, sent)
        return response.status_code, response.content

    def job(self, data: bytes) -> dict[str, Any]:
        return dict(json.loads(data))


def speech(c: Counting, poll: float) -> int:
    status, audio = c.call("POST", "/v1/audio/speech", {"model": "tts-1", "voice": "alloy", "input": TEXT,
                                                        "response_format": "wav"})
    assert status == 200, audio
    return len(audio)


def prefer_wait(c: Counting, poll: float) -> int:
    status, data = c.call("POST", "/v1/jobs", {"text": TEXT, "model": "tone"}, {"Prefer": "wait=30"})
    assert status == 200, data
    return _audio(c, c.job(data)["jobId"])


def long_poll(c: Counting, poll: float) -> int:
    status, data = c.call("POST", "/v1/jobs", {"text": TEXT, "model": "tone"})
    job = c.job(data)
    while job["status"] != "completed":
        status, data = c.call("GET", f"/v1/jobs/{job['jobId']}?wait=30")
        job = c.job(data)
        assert job["status"] in ("queued", "processing", "completed"), job
    return _audio(c, job["jobId"])


def polling(c: Counting, poll: float) -> int:
    status, data = c.call("POST", "/v1/jobs", {"text": TEXT, "model": "tone"})
    job = c.job(data)
    while job["status"] != "completed":
        time.sleep(poll)
        job = c.job(c.call("GET", f"/v1/jobs/{job['jobId']}")[1])
        assert job["status"] in ("queued", "processing", "completed"), job
    return _audio(c, job["jobId"])


def _audio(c: Counting, job_id: str) -> int:
    status, audio = c.call("GET", f"/v1/jobs/{job_id}/audio")
    assert status == 200, audio
    return len(audio)


WAYS: list[tuple[str, Callable[[Counting, float], int]]] = [
    ("POST /v1/audio/speech", speech),
    ("POST /v1/jobs + Prefer: wait=30, GET audio", prefer_wait),
    ("POST /v1/jobs, GET ?wait=30 until completed, GET audio", long_poll),
    ("POST /v1/jobs, GET every {poll} s until completed, GET audio", polling),
]


def meter(port: int) -> dict[str, int]:
    return dict(json.loads(loopback.call(port, "GET", "/__meter", timeout=30)[2]))


def measure(port: int, jobs: int, poll: float, metered: bool) -> list[dict[str, Any]]:
    out = []
    for name, way in WAYS:
        c = Counting(port)
        way(c, poll)  # warm: the first request of an isolate loads its code
        c.requests = 0
        before = meter(port) if metered else {}
        latencies = []
        for _ in range(jobs):
            t = time.perf_counter()
            way(c, poll)
            latencies.append((time.perf_counter() - t) * 1000)
        time.sleep(0.3)  # the consumer's last acks
        after = meter(port) if metered else {}
        row: dict[str, Any] = {
            "way": name.format(poll=f"{poll:g}"),
            "p50": pct(latencies, 0.5),
            "p99": pct(latencies, 0.99),
            "http_per_job": c.requests / jobs,
        }
        if metered:
            row["do_per_job"] = (after.get("do.requests", 0) - before.get("do.requests", 0)) / jobs
        out.append(row)
    return out


def run_local(jobs: int, poll: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = RuntimeProcess(Path(tmp), ENV).start()
        try:
            return measure(proc.port, jobs, poll, metered=True)
        finally:
            proc.stop()


def run_workerd(jobs: int, poll: float) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), ENV)
        server.start()
        try:
            return measure(server.port, jobs, poll, metered=False)
        finally:
            server.stop()


def section(results: dict[str, list[dict[str, Any]]], jobs: int, poll: float, command: str) -> str:
    lines = [
        BEGIN,
        "## Waiting without polling, and OpenAI's speech route",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} ({platform.python_implementation()}"
        f" {platform.python_version()}, 2 shared cores). {jobs} short tone jobs (\"{TEXT}\", 5 characters) one"
        " after another for each way, after one warm-up job; latency is the client's, from its first request to"
        " the last byte of the audio. HTTP requests are the client's (each one Worker request on Cloudflare).",
        " Durable Object requests are the local runtime's meter (every shard RPC of the job: the api's and the"
        " consumer's); workerd has no meter and runs the same code.",
        " On workerd, where there is no meter, the DO requests are derived: the same calls per HTTP request as"
        " measured locally for that way.",
        "",
        "| runtime | way | p50 ms | p99 ms | HTTP (Worker) requests / job | DO requests / job |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    local = {r["way"]: r for r in results.get("local", [])}
    for runtime, rows in results.items():
        for r in rows:
            if "do_per_job" in r:
                do = f"{r['do_per_job']:.1f}"
            elif r["way"] in local:  # the same calls per HTTP request as measured locally, plus claim + complete
                extra = local[r["way"]]["do_per_job"] - local[r["way"]]["http_per_job"]
                do = f"{r['http_per_job'] + extra:.1f} (derived)"
            else:
                do = "–"
            lines.append(f"| {runtime} | {r['way']} | {r['p50']:.0f} | {r['p99']:.0f} | {r['http_per_job']:.1f} | {do} |")
    lines += ["", "Durable Object duration a wait keeps open, per job, at worst (an otherwise idle shard; 128 MB,"
              " $12.50 per million GB-s): the waiting ways hold one `waitForChange` open for about the job's"
              " time to complete, so, taking the p50 latency as that time:", ""]
    for runtime, rows in results.items():
        r = rows[0]
        seconds = r["p50"] / 1000
        do = r.get("do_per_job", local.get(r["way"], {}).get("do_per_job", 0.0))
        lines.append(f"- {runtime}: {seconds:.2f} s open per `/v1/audio/speech` job = {0.125 * seconds:.3f} GB-s"
                     f" = ${0.125 * seconds * 12.5:.2f} per million jobs, next to ${0.30 * r['http_per_job']:.2f}"
                     f" for its Worker request and ${0.15 * do:.2f} for its {do:.0f} DO requests per million jobs.")
    lines += [
        "",
        "What the Durable Object requests are: every job costs `create` and the consumer's `claim` and",
        "`complete` (`MAX_JOBS_IN_FLIGHT`, off here, is decided inside `create`: no extra request while the job's",
        "shard is under its share); then",
        "`get` per status poll, one `waitForChange` per long-poll or `Prefer: wait` or speech call, and one `get`",
        "per audio download. What a wait costs on Cloudflare besides its request: Durable Object duration is",
        "billed per object (wall clock, 128 MB, $12.50 per million GB-s) while any request to it is in flight, so",
        "a `waitForChange` open for `s` seconds keeps its shard billed for those seconds: 0.125 GB-s per second,",
        "about $1.6 per million waited seconds, unless the shard is busy with other requests then anyway (every",
        "waiter on one shard shares the same duration). Polling instead costs one Worker request ($0.30 per",
        "million) and one DO request ($0.15 per million) per poll, plus the duration of each. For a job that",
        "takes 1 s, a 1-second wait ($1.6e-6 of duration at worst) costs what three or four polls do; for a long",
        "job, polling every 0.5 s costs about $0.9e-6 per second against the wait's $1.6e-6 on an otherwise idle",
        "shard, and nothing extra on a busy one. The wait is bounded: `MAX_WAIT_SECONDS` per call and",
        "`MAX_WAITERS_PER_SHARD` open calls per shard (past it a call answers at once). The api Worker holding",
        "the client's request open meanwhile is billed for CPU time, not wall time: waiting costs it nothing.",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    sections.write_section("speech", text, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--poll", type=float, default=0.05, help="the polling way's interval, seconds")
    parser.add_argument("--runtime", choices=("local", "workerd", "both"), default="both")
    parser.add_argument("--smoke", action="store_true", help="3 jobs, print the section, write nothing")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    jobs = 3 if args.smoke else args.jobs
    results: dict[str, list[dict[str, Any]]] = {}
    if args.runtime in ("local", "both"):
        results["local"] = run_local(jobs, args.poll)
    if args.runtime in ("workerd", "both"):
        results["workerd"] = run_workerd(jobs, args.poll)
    command = "python -m bench.speech" + (f" --jobs {args.jobs}" if args.jobs != 50 else "")
    if args.runtime != "both":
        command += f" --runtime {args.runtime}"
    text = section(results, jobs, args.poll, command)
    print(text)
    if not args.smoke:
        write_section(text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
