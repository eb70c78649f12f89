"""``python -m bench.workerd``: the pipeline on workerd (``tts-pipeline dev --runtime workerd``), measured.

Writes its section of docs/benchmarks.md (between the ``workerd`` markers;
``python -m bench`` keeps it when it rewrites the rest):

- start to first answer: wrangler start -> "Ready" -> the api's first reply
  (Python loads on the first request), without and with a saved Python
  memory snapshot of the api Worker (workerd's ``--python-save-snapshot`` /
  ``--python-load-snapshot``, measured on the api Worker alone, since one
  workerd process takes one snapshot file);
- per-request latency of submit, status and audio (p50, p99), sequential;
- submit-to-completed of a lone short job with the deployed batch window;
- the consumer's throughput over ``--jobs`` tone jobs submitted by 8 clients.

Every number comes from one run on this machine; none is a test assertion.
``--smoke`` makes every phase tiny (seconds, for a check that the script runs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench import loopback, sections
from tooling.dev_process import DevProcess

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("workerd")
BENCH_ENV = {"CRON_INTERVAL_SECONDS": "0", "JOB_RATE_LIMIT": "0", "MAX_JOBS_IN_FLIGHT": "0", "SYNTHESIS_CACHE": "off"}


class Server(DevProcess):
    """``tts-pipeline dev --runtime workerd`` as a process; logs to a file."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        super().__init__(
            data_dir, dev_args=["--runtime", "workerd"], env={**os.environ, **BENCH_ENV, **(env or {})}, cwd=ROOT,
            log_path=data_dir / "runtime.log",
        )

    def start(self, timeout: float = 300.0, watch: Callable[[str], None] | None = None) -> dict[str, float]:
        t0 = time.monotonic()
        ready: list[float] = []

        def see(text: str) -> None:
            if not ready and "Ready on" in text:
                ready.append(time.monotonic() - t0)

        super().start(timeout, see)
        started = time.monotonic() - t0
        return {"ready": ready[0] if ready else started, "first_answer": started}

    def stop(self, grace: float = 30.0) -> None:
        super().stop(grace)


class Client:
    def __init__(self, port: int) -> None:
        self.http = loopback.client(port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        response = loopback.send(self.http, method, path, body)
        return response.status_code, response.content

    def submit(self, text: str) -> str:
        status, body = self.call("POST", "/v1/jobs", {"text": text, "model": "tone"})
        assert status == 202, body
        return str(json.loads(body)["jobId"])

    def status(self, job_id: str) -> str:
        return str(json.loads(self.call("GET", f"/v1/jobs/{job_id}")[1])["status"])

    def wait(self, job_id: str, timeout: float = 120.0, poll: float = 0.02) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.status(job_id) in ("completed", "failed"):
                return time.monotonic()
            time.sleep(poll)
        raise RuntimeError(f"job {job_id} did not finish")


def timed(fn: Callable[[], Any], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- phases ----------------------------------------------------------------------


def start_times(work: Path, repeats: int) -> list[dict[str, float]]:
    """The three Workers, each start on a fresh data dir (bundles and the Pyodide bundle already built)."""
    runs = []
    for i in range(repeats):
        server = Server(work / f"start-{i}")
        try:
            runs.append(server.start())
        finally:
            server.stop()
    return runs


def snapshot_times(work: Path) -> dict[str, Any]:
    """The api Worker alone through tools/wrangler: save a dedicated snapshot, then start from it.

    workerd's ``--python-save-snapshot`` runs the Worker's top level, writes
    ``snapshot.bin`` to ``--python-snapshot-dir`` and exits (as a deploy
    does); ``--python-load-snapshot`` then starts from it. The no-snapshot
    start of the same Worker alone is measured alongside.
    """
    snap_dir = work / "snapshot"
    snap_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"plain": _api_alone(work / "snap-plain", "")}
    t0 = time.monotonic()
    _api_alone(work / "snap-save", f"--python-snapshot-dir={snap_dir} --python-save-snapshot", expect_exit=True)
    out["save_s"] = time.monotonic() - t0
    files = sorted(p for p in snap_dir.iterdir() if p.is_file())
    if not files:
        out["error"] = "no snapshot file was written"
        return out
    out["snapshot_file"] = f"{files[0].name}, {files[0].stat().st_size / 1e6:.1f} MB"
    out["load"] = _api_alone(work / "snap-load", f"--python-snapshot-dir={snap_dir} --python-load-snapshot={files[0].name}")
    return out


def _api_alone(data_dir: Path, flags: str, expect_exit: bool = False) -> dict[str, float]:
    from tooling.workerd.runner import free_port

    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {**os.environ, **BENCH_ENV, "TTS_WORKERD_SERVE_FLAGS": flags}
    log = data_dir / "wrangler.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(ROOT / "tools" / "wrangler"), "dev", "-c", str(ROOT / ".cache/workerd/dev/api/wrangler.json"),
             "--port", str(port), "--persist-to", str(data_dir / "state"), "--inspector-port", str(free_port()),
             "--show-interactive-dev-session=false"],
            stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True,
        )
    try:
        ready = None
        while time.monotonic() - t0 < 300:
            if ready is None and "Ready on" in log.read_text(errors="replace"):
                ready = time.monotonic() - t0
            if process.poll() is not None:
                if expect_exit:
                    return {"exited": time.monotonic() - t0}
                raise RuntimeError(log.read_text(errors="replace")[-2000:])
            if ready is not None and not expect_exit:
                try:
                    loopback.call(port, "GET", "/healthz")
                    return {"ready": ready, "first_answer": time.monotonic() - t0}
                except httpx.TransportError:
                    pass
            time.sleep(0.05)
        raise RuntimeError("api Worker did not answer")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 15)
        process.wait(30)


def latencies(port: int, n: int) -> dict[str, list[float]]:
    client = Client(port)
    ids: list[str] = []
    submit = timed(lambda: ids.append(client.submit(f"Latency probe {len(ids) + 1}.")), n)  # each text new: no cache hit
    client.wait(ids[-1])
    status = timed(lambda: client.status(ids[0]), n)
    audio = timed(lambda: client.call("GET", f"/v1/jobs/{ids[0]}/audio"), n)
    return {"submit": submit, "status": status, "audio": audio}


def lone_jobs(port: int, n: int) -> list[float]:
    client = Client(port)
    out: list[float] = []
    for _ in range(n):
        t = time.monotonic()
        job = client.submit(f"A lone short job, number {len(out) + 1}.")  # a text again would be a cache hit
        out.append((client.wait(job, poll=0.01) - t) * 1000)
        time.sleep(0.2)
    return out


def throughput(port: int, jobs: int, clients: int = 8) -> dict[str, float]:
    ids: list[str] = []
    lock = threading.Lock()

    def submitter(count: int) -> None:
        client = Client(port)
        for i in range(count):
            job = client.submit(f"Throughput job {i}.")
            with lock:
                ids.append(job)

    t0 = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        for share in [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]:
            pool.submit(submitter, share)
    submitted = time.monotonic() - t0
    client = Client(port)
    last = max(client.wait(job, timeout=900, poll=0.05) for job in ids)
    elapsed = last - t0
    return {"jobs": len(ids), "submitted_s": submitted, "elapsed_s": elapsed, "jobs_per_s": len(ids) / elapsed}


# --- report ----------------------------------------------------------------------


def render(results: dict[str, Any], command: str) -> str:
    lat = results["latency"]
    rows = "\n".join(
        f"| {name} | {len(v)} | {pct(v, 0.5):.1f} | {pct(v, 0.99):.1f} | {max(v):.1f} |" for name, v in lat.items()
    )
    starts = results["starts"]
    start_rows = "\n".join(
        f"| three Workers, no snapshot, run {i + 1} | {s['ready']:.1f} | {s['first_answer']:.1f} |"
        for i, s in enumerate(starts)
    )
    snap = results.get("snapshot", {})
    if "load" in snap:
        start_rows += (
            f"\n| api Worker alone, no snapshot | {snap['plain']['ready']:.1f} | {snap['plain']['first_answer']:.1f} |"
            f"\n| api Worker alone, from a saved snapshot ({snap['snapshot_file']}; saving took {snap['save_s']:.1f} s) |"
            f" {snap['load']['ready']:.1f} | {snap['load']['first_answer']:.1f} |"
        )
    elif snap:
        start_rows += f"\n| api Worker alone from a snapshot | n/a | {snap.get('error', 'not measured')} |"
    lone = results["lone"]
    tp = results["throughput"]
    return f"""{BEGIN}
## On workerd (Cloudflare's runtime, through wrangler dev)

Produced by `{command}` on {results['date']} ({results['machine']}). The three
Workers in one `wrangler dev` (wrangler {results['wrangler']}, workerd {results['workerd']}, Pyodide
{results['pyodide']}) with Miniflare's Durable Objects, R2 and Queues, started by
`tts-pipeline dev --runtime workerd`; the client is this script over loopback.
One run, not an assertion; the local runtime's tables above are a different
runtime and are not comparable row by row.

### Start to first answer (seconds from the command)

| start | wrangler "Ready" | api's first answer |
| --- | ---: | ---: |
{start_rows}

workerd loads each Python Worker before wrangler says "Ready". The snapshot is
workerd's `--python-save-snapshot` / `--python-load-snapshot` (what a deploy
does on Cloudflare): one file per Worker, so it is measured on the api Worker
alone (`tools/wrangler dev -c .cache/workerd/dev/api/wrangler.json`).

### Per-request latency (ms, one client, sequential)

| request | n | p50 | p99 | max |
| --- | ---: | ---: | ---: | ---: |
{rows}

### A lone short job, submit to completed (ms)

{len(lone)} jobs one after another, polled every 10 ms: p50 {pct(lone, 0.5):.0f}, max {max(lone):.0f}, with
`max_batch_timeout = {results['batch_timeout']:g}` for the jobs queue (workers/synth_consumer/wrangler.toml),
which Miniflare's queue waits for before it delivers a batch that is not full. By every path,
before and after, with consumer invocations per job: `python -m bench` ("A lone short job, by every path").

### Consumer throughput

{tp['jobs']} tone jobs submitted by 8 clients in {tp['submitted_s']:.1f} s; all completed
{tp['elapsed_s']:.1f} s after the first submit: **{tp['jobs_per_s']:.1f} jobs/s** (batches of 10,
one consumer isolate).
{END}"""


def write_section(section: str, doc: Path = DOC) -> None:
    sections.write_section("workerd", section, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--lone", type=int, default=20)
    parser.add_argument("--starts", type=int, default=2)
    parser.add_argument("--no-snapshot", action="store_true", help="skip the snapshot measurement")
    parser.add_argument("--smoke", action="store_true", help="tiny counts; print the section, write nothing")
    parser.add_argument("--out", type=Path, default=DOC)
    args = parser.parse_args(argv)
    if args.smoke:
        args.jobs, args.requests, args.lone, args.starts, args.no_snapshot = 20, 10, 2, 1, True
    from tooling.workerd import runner, toolchain

    tools, _ = runner.prepare(progress=True)
    subprocess.run([str(ROOT / "tools" / "wrangler"), "--version"], check=True, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="bench-workerd-"))
    try:
        results: dict[str, Any] = {
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}",
            "wrangler": toolchain.WRANGLER_VERSION, "workerd": toolchain.WORKERD_VERSION,
            "pyodide": toolchain.PYODIDE_VERSION,
        }
        from local_runtime.wrangler_config import CONSUMER_WORKER, consumers_of, wrangler_config

        jobs_consumer = next(c for c in consumers_of(wrangler_config(CONSUMER_WORKER)) if c["queue"] == "tts-jobs")
        results["batch_timeout"] = float(jobs_consumer.get("max_batch_timeout", 5))
        results["starts"] = start_times(work, args.starts)
        if not args.no_snapshot:
            results["snapshot"] = snapshot_times(work)
        server = Server(work / "main")
        server.start()
        try:
            results["latency"] = latencies(server.port, args.requests)
            results["lone"] = lone_jobs(server.port, args.lone)
            results["throughput"] = throughput(server.port, args.jobs)
        finally:
            server.stop()
        command = "python -m bench.workerd" + (" --smoke" if args.smoke else "")
        section = render(results, command)
        if args.smoke:
            print(section)
        else:
            write_section(section, args.out)
            print(f"wrote the workerd section of {args.out}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
