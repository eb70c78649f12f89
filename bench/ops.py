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


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.ops``: this section alone, as Markdown (the operation counts and their cost)."""
    import argparse
    from dataclasses import asdict

    from bench import report

    parser = argparse.ArgumentParser(prog="python -m bench.ops", description=__doc__)
    parser.add_argument("--jobs", type=int, default=200)
    args = parser.parse_args(argv)
    result = asdict(run(args.jobs))
    print("\n".join(report.ops_section(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
