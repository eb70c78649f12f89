"""Memory and CPU of one job as its audio grows: 1, 10, 50 MB, through /audio and /result.

Method. Each audio size runs in a fresh Python process (``python -m
bench.memory --case ...``) holding the whole local runtime in-process: the
real HTTP server on a loopback port, the API, the queue runner, the consumer,
the local R2 bucket and Durable Object SQLite. A client thread in the same
process submits one tone job whose text length gives the wanted audio size
(60 ms = 2,880 bytes of 24 kHz 16-bit PCM per character), waits for it, then
downloads it through ``/audio`` and through the legacy ``/result``, reading
each body in 64 KiB pieces and dropping them (so the client holds no copy).
Audio over ``LEGACY_RESULT_MAX_BYTES`` (16 MB) gets ``/result``'s 413 (the
JSON body would not fit a Worker): that case is measured as the refusal it is
(its status is kept), the memory of a big download through ``/audio``.

Per phase (process = queue -> synthesize -> R2 put -> complete; each
download) it records:

- peak RSS above the phase's starting RSS (``VmHWM`` reset through
  ``/proc/self/clear_refs``);
- CPU time of the process minus the client thread's own;
- in a second run of the same case under ``tracemalloc``, the peak of traced
  Python allocations above the phase's start, divided by the audio size:
  the number of full copies of the audio alive at once on that path.

The tone model's ``max_input_chars`` is raised in this process's catalogue
(another model limit would otherwise decide how long one job may be); the
code paths are the runtime's own.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loopback, procstat
from bench.runtime_proc import BENCH_ENV
from shared.jobs.shard import Get

BYTES_PER_CHAR = 2880  # 24,000 Hz x 60 ms x 2 bytes
MB = 1_000_000
READ_PIECE = 64 * 1024


@dataclass
class Phase:
    name: str
    peak_rss_mib: float
    cpu_ms: float
    copies: float | None = None
    process_peak_rss_mib: float | None = None
    status: int = 200  # the HTTP status of a download (413: /result refused the size)


def _chars_for(megabytes: float) -> int:
    return math.ceil(megabytes * MB / BYTES_PER_CHAR)


def _text(chars: int) -> str:
    # No whitespace: every character is a tone slot, so the size is exact.
    return ("abcdefghijklmnopqrstuvwxyz" * (chars // 26 + 1))[:chars]


# --- the child: one case, in-process ------------------------------------------


class _Client:
    """HTTP on its own thread, timed with its own thread CPU clock."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cpu = 0.0

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, int, bytes]:
        """Returns (status, body length, the first 64 KiB of the body)."""
        cpu0 = time.thread_time()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            with loopback.client(self.port, timeout=600) as client, client.stream(
                method, path, content=body, headers=headers
            ) as response:
                head, total = b"", 0
                for piece in response.iter_raw(READ_PIECE):
                    if len(head) < READ_PIECE:
                        head += piece[: READ_PIECE - len(head)]
                    total += len(piece)
                return response.status_code, total, head
        finally:
            self.cpu += time.thread_time() - cpu0


async def _case(chars: int, trace: bool, result_max_bytes: int | None = None) -> dict[str, Any]:
    from local_runtime.runtime import LocalRuntime
    from shared.synthesis.catalogue import default_catalogue

    catalogue = default_catalogue(False)
    catalogue.add(catalogue.get("tone").model_copy(update={"max_input_chars": max(chars, 1)}))
    # One chunk of up to 50 MB of audio is deliberately past what a Worker may hold (the memory limit
    # would end the invocation): this measures the local process's copies, so the limits are off.
    env = {**BENCH_ENV, "MAX_TEXT_CHARS": str(max(chars, 100_000)),
           "QUEUE_MAX_BATCH_TIMEOUT": "0.05", "ENFORCE_CLOUDFLARE_LIMITS": "0"}
    if result_max_bytes:
        env["LEGACY_RESULT_MAX_BYTES"] = str(result_max_bytes)
    phases: list[Phase] = []
    with tempfile.TemporaryDirectory(prefix="bench-mem-") as data_dir, open(os.environ.get("BENCH_LOG", "/dev/null"), "w") as sink:
        runtime = LocalRuntime(data_dir, env, port=0, catalogue=catalogue, log_stream=sink, cron_interval=0)
        await runtime.start()
        client = _Client(runtime.server.port)
        loop = asyncio.get_running_loop()
        size = 0
        try:
            body = json.dumps({"text": _text(chars), "model": "tone"}).encode()

            async def measured(name: str, work: Any) -> Any:
                gc.collect()  # what the previous phase left must not be freed inside this one
                if trace:
                    tracemalloc.reset_peak()
                    traced0 = tracemalloc.get_traced_memory()[0]
                procstat.reset_peak_rss(os.getpid())
                rss0 = procstat.rss_mib(os.getpid())
                client_cpu0, cpu0 = client.cpu, time.process_time()
                result = await work()
                cpu = (time.process_time() - cpu0) - (client.cpu - client_cpu0)
                peak_abs = procstat.peak_rss_mib(os.getpid())
                copies = None
                if trace and size:
                    copies = (tracemalloc.get_traced_memory()[1] - traced0) / size
                phases.append(Phase(name, peak_abs - rss0, cpu * 1000, copies, peak_abs))
                return result

            async def process() -> dict[str, Any]:
                status, _, head = await loop.run_in_executor(None, client.call, "POST", "/v1/jobs", body)
                if status != 202:
                    raise RuntimeError(f"submit failed: {status} {head[:300]!r}")
                job_id = json.loads(head)["jobId"]
                while True:
                    await asyncio.sleep(0.01)
                    record = await runtime.jobs.call(Get(job_id=job_id))
                    if record is not None and record.status.is_terminal:
                        return {"jobId": job_id, "status": record.status.value, "size": record.size_bytes}

            # The size is known only after the first run; measure the job once to learn
            # it, then again for real (the slot cache and imports are warm by then).
            warm = await process()
            size = int(warm["size"] or 0)
            await asyncio.sleep(0.2)  # let the runner settle the warm-up batch
            phases.clear()
            job = await measured("process", process)
            job_id = job["jobId"]

            statuses: dict[str, int] = {}

            async def download(path: str, name: str, allowed: tuple[int, ...] = (200,)) -> int:
                status, total, head = await loop.run_in_executor(None, client.call, "GET", path)
                if status not in allowed:
                    raise RuntimeError(f"GET {path}: {status} {head[:300]!r}")
                statuses[name] = status
                return total if status == 200 else 0

            await measured("/audio", lambda: download(f"/v1/jobs/{job_id}/audio", "/audio"))
            # Over LEGACY_RESULT_MAX_BYTES the legacy route answers 413 (use /audio): that is the case here.
            result_bytes = await measured(
                "/result", lambda: download(f"/v1/jobs/{job_id}/result", "/result", (200, 413)))
            for phase in phases:
                phase.status = statuses.get(phase.name, 200)
        finally:
            await runtime.stop()
    return {"chars": chars, "audioBytes": size, "resultBytes": result_bytes,
            "phases": [p.__dict__ for p in phases]}


def _child(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", type=int, required=True, help="characters of text")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--result-max-bytes", type=int, default=None)
    args = parser.parse_args(argv)
    if args.trace:
        tracemalloc.start()
    print(json.dumps(asyncio.run(_case(args.case, args.trace, args.result_max_bytes))))


# --- the parent: one process per case ------------------------------------------


@dataclass
class MemoryResult:
    megabytes: float
    audio_bytes: int
    result_bytes: int
    phases: dict[str, Phase]


def _run_child(chars: int, trace: bool, result_max_bytes: int | None = None) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", "--case", str(chars)] + (["--trace"] if trace else [])
    if result_max_bytes:
        command += ["--result-max-bytes", str(result_max_bytes)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900,
                          cwd=Path(__file__).resolve().parent.parent, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory case {chars} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run(sizes_mb: list[float], result_max_bytes: int | None = None) -> list[MemoryResult]:
    results = []
    for megabytes in sizes_mb:
        chars = _chars_for(megabytes)
        plain = _run_child(chars, trace=False, result_max_bytes=result_max_bytes)
        traced = _run_child(chars, trace=True, result_max_bytes=result_max_bytes)
        copies = {p["name"]: p["copies"] for p in traced["phases"]}
        phases = {p["name"]: Phase(p["name"], p["peak_rss_mib"], p["cpu_ms"], copies.get(p["name"]),
                                   p["process_peak_rss_mib"], p.get("status", 200)) for p in plain["phases"]}
        results.append(MemoryResult(megabytes, plain["audioBytes"], plain["resultBytes"], phases))
    return results


if __name__ == "__main__":
    _child(sys.argv[1:])
