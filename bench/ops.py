"""Billable operations per job, phase by phase, from the local bindings' meter.

The runtime runs in this process (``LocalRuntime``), so each phase can be
metered on its own: requests go straight to the api Worker's handler (the
same code the HTTP server calls; sockets are not billed), the queue runner
is started only once every job is submitted, and the clock is moved past
the jobs' TTL before the reaper runs.

Worker requests are counted here: one per HTTP request and one per cron
run; the meter counts consumer invocations (one per delivered batch).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from bench.runtime_proc import BENCH_ENV
from bench.throughput import TEXT

WORKER_REQUESTS = "worker.requests"


@dataclass
class OpsResult:
    jobs: int
    phases: dict[str, dict[str, float]]  # phase -> operation -> count per job (or per call)
    audio_bytes: int
    env: dict[str, str]


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before) if after.get(k, 0) != before.get(k, 0)}


async def _measure(jobs: int) -> OpsResult:
    from local_runtime.runtime import LocalRuntime
    from shared.http import HttpRequest

    offset = [0.0]

    def clock() -> float:
        return time.time() + offset[0]

    env = {**BENCH_ENV, "QUEUE_MAX_BATCH_TIMEOUT": "0.05"}
    phases: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-ops-") as data_dir, open("/dev/null", "w") as sink:
        runtime = LocalRuntime(data_dir, env, port=0, clock=clock, log_stream=sink, cron_interval=0)
        meter = runtime.meter

        async def call(method: str, path: str, body: Any = None) -> Any:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            request = HttpRequest.build(method, path, headers=headers,
                                        body=json.dumps(body).encode() if body is not None else b"",
                                        base_url="http://127.0.0.1")
            meter.add(WORKER_REQUESTS)
            response = await runtime.handle(request)
            if response.status >= 400:
                raise RuntimeError(f"{method} {path}: {response.status} {response.body[:300]!r}")
            if response.blob is not None:  # what the server would stream
                data = await response.blob.read()
                return data
            return json.loads(response.body) if response.body else None

        def phase(name: str, before: dict[str, int], per: int) -> dict[str, int]:
            now = meter.snapshot()
            phases[name] = {k: v / per for k, v in sorted(_diff(now, before).items())}
            return now

        mark = meter.snapshot()
        ids = [(await call("POST", "/v1/jobs", {"text": TEXT, "model": "tone"}))["jobId"] for _ in range(jobs)]
        mark = phase("submit", mark, jobs)

        await runtime.start()  # the queue runner starts delivering now
        try:
            deadline = time.monotonic() + 60 + jobs * 0.05
            while any(runtime.queue.counts().values()):
                if time.monotonic() > deadline:
                    raise TimeoutError("jobs were not processed in time")
                await asyncio.sleep(0.01)
            mark = phase("process", mark, jobs)

            views = [await call("GET", f"/v1/jobs/{job_id}") for job_id in ids]
            if any(v["status"] != "completed" for v in views):
                raise RuntimeError("not every job completed")
            audio_bytes = int(views[0]["sizeBytes"])
            mark = phase("status poll", mark, jobs)
            for job_id in ids:
                await call("GET", f"/v1/jobs/{job_id}/audio")
            mark = phase("download /audio", mark, jobs)
            for job_id in ids:
                await call("GET", f"/v1/jobs/{job_id}/result")
            mark = phase("download /result", mark, jobs)

            offset[0] = runtime.settings.job_ttl_seconds + runtime.settings.orphan_grace_seconds + 60
            meter.add(WORKER_REQUESTS)  # the cron invocation
            report = await runtime.scheduled()
            mark = phase("reaper (per job purged)", mark, jobs)
            left = await runtime.jobs.lookup(ids)
            if left:
                raise RuntimeError(f"the reaper left {len(left)} of {jobs} jobs: {report}")
        finally:
            await runtime.stop()
    return OpsResult(jobs, phases, audio_bytes, env)


def run(jobs: int) -> OpsResult:
    return asyncio.run(_measure(jobs))


# --- ``python -m bench.ops``: Durable Object requests and cost per job, before and after --------------

SECTION = "do-requests"


def _job_cost(phases: dict[str, dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Operations per job and their USD per million jobs: submit, process, one poll, one /audio download."""
    from bench import cost

    job_only = {k: v for k, v in phases.items() if k != "reaper (per job purged)"}
    ops_per_job = cost.scenario(job_only, 1, "download /audio")
    return ops_per_job, cost.usd_per_million_jobs(ops_per_job)


def _measure_json(jobs: int, repeat: int) -> dict[str, Any]:
    """The median (by DO requests) of ``repeat`` loaded runs of ``jobs`` jobs, and one lone job."""
    from dataclasses import asdict

    runs = sorted((run(jobs) for _ in range(repeat)), key=lambda r: r.phases["process"].get("do.requests", 0))
    loaded = runs[len(runs) // 2]
    lone = run(1)
    return {"loaded": asdict(loaded), "lone": asdict(lone)}


def _measure_revision(rev: str, jobs: int, repeat: int) -> dict[str, Any]:
    """``rev``'s committed code, measured with this bench code (as ``python -m bench --baseline``)."""
    import os
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-ops-tree-") as tree:
        archive = subprocess.run(["git", "archive", rev], cwd=root, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        shutil.rmtree(Path(tree) / "bench", ignore_errors=True)
        shutil.copytree(root / "bench", Path(tree) / "bench", ignore=shutil.ignore_patterns("__pycache__"))
        out = Path(tree) / "ops.json"
        subprocess.run([sys.executable, "-m", "bench.ops", "--jobs", str(jobs), "--repeat", str(repeat),
                        "--json", str(out)], cwd=tree, check=True, env=dict(os.environ))
        return dict(json.loads(out.read_text()))


def _rows(label: str, measured: dict[str, Any]) -> list[str]:
    loaded, lone = measured["loaded"], measured["lone"]
    ops_per_job, usd = _job_cost(loaded["phases"])
    lone_ops, _ = _job_cost(lone["phases"])
    return [
        label,
        f"{lone_ops.get('do.requests', 0):.2f}",
        f"{ops_per_job.get('do.requests', 0):.2f}",
        f"{loaded['phases']['process'].get('do.requests', 0):.3f}",
        f"{ops_per_job.get('do.rows_written', 0):.2f}",
        f"${usd.get('do.rows_written', 0):.2f}",
        f"${usd.get('do.requests', 0):.2f}",
        f"${sum(usd.values()):.2f}",
    ]


def render(command: str, current: dict[str, Any], baseline: dict[str, Any] | None, base_label: str) -> str:
    from bench.sections import markers

    begin, end = markers(SECTION)
    jobs = current["loaded"]["jobs"]
    head = ["build", "DO requests, lone job", f"DO requests a job, {jobs} jobs", "of which the consumer's",
            "rows written a job", "rows written $/M", "DO requests $/M", "cost $/M jobs"]
    rows = ([_rows(f"before ({base_label})", baseline)] if baseline is not None else []) + [_rows("after", current)]
    lines = [begin, "", "### Durable Object requests and rows written per job", "",
             f"Produced by `{command}`. {jobs} jobs submitted, then consumed in full batches (batch size 10, "
             f"{current['loaded']['env'].get('SHARD_COUNT', '4')} shards, the local runtime's meter; the median of the "
             "runs); and one lone job on a fresh runtime. Cost per million jobs: submit, process, one status poll, "
             "one `/audio` download (`bench/cost.py` prices, the reaper's share left out). Rows written: the "
             "job's insert, claim and completion, and (before its message's outbox state moved onto the job's "
             "row, shared/jobs/outbox.py) an outbox row written and deleted.", "",
             "| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import shlex
    import sys
    from pathlib import Path

    from bench.sections import write_section

    parser = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", metavar="REV", help="also measure this revision (before/after)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--write", action="store_true", help="replace its section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    current = _measure_json(args.jobs, args.repeat)
    if args.json is not None:
        args.json.write_text(json.dumps(current))
    if not args.write:
        return 0
    baseline = _measure_revision(args.baseline, args.jobs, args.repeat) if args.baseline else None
    command = "python -m bench.ops " + shlex.join(sys.argv[1:] if argv is None else argv)
    text = render(command, current, baseline, args.baseline or "")
    write_section(SECTION, text, Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
