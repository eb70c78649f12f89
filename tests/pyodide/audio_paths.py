"""Serving a large audio object from the api Worker in Pyodide, three ways, as Markdown.

    python tests/pyodide/audio_paths.py [--mb 20] [--requests 3] [--json FILE]

- ``stream``: ``GET /v1/jobs/{id}/audio`` as deployed: the R2 object's
  ``ReadableStream`` goes to the ``Response`` (``cloudflare_adapters.http``);
- ``bytes``: the same request with the body copied through Python on the
  way (``R2Body.read()`` -> ``bytes`` -> a ``Uint8Array``), which is what
  serving it any other way costs;
- ``legacy``: ``GET /v1/jobs/{id}/result``, the old contract's base64 JSON
  (``LEGACY_RESULT_MAX_BYTES`` raised above the object for the measurement).

Each path gets a fresh harness, so a fresh Pyodide: a Wasm heap only grows,
and what one path grew would hide what the next one needs. A completed job
is seeded (submitted, then claimed and completed over RPC with an object of
``--mb`` MB put into Miniflare's R2), one status request warms the Worker,
then ``--requests`` requests are measured. Reported per path: the handler's
time until the ``Response`` exists and the time to drain its body (medians;
the body is read in JS and counted, never returned to Python), the Python
heap's peak during the request (``tracemalloc``), the Worker's Wasm heap
before and after the first request (Cloudflare's 128 MB counts it). The
JSON also has the largest ``arrayBuffers`` the Node process held, which is
the whole process (Miniflare, the harness) and moves with GC timing: a hint
at JS-side copies, not a measurement of the Worker.
A benchmark, not a test: nothing here asserts on time or memory.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from pyodide_harness import REPO_ROOT, Harness, worker_spec  # noqa: E402

from shared.jobs.sharding import shard_for  # noqa: E402

TOKEN = "bench-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BUCKET = "tts-audio-results"
MiB = 1024 * 1024

# Applied inside the Worker for the ``bytes`` path: after the app answers, a
# blob response is read into Python and handed back as bytes.
COPY_THROUGH_PYTHON = """
from shared.api.app import ApiApp
from shared.http import HttpResponse
if not getattr(ApiApp, "_bench_patched", False):
    _handle = ApiApp.handle
    async def handle(self, request):
        response = await _handle(self, request)
        if response.blob is not None:
            data = await response.blob.read()
            response = HttpResponse(status=response.status, headers=response.headers, body=data)
        return response
    ApiApp.handle = handle
    ApiApp._bench_patched = True
"""
TRACE_START = "import gc, tracemalloc; gc.collect(); tracemalloc.start()"
TRACE_STOP = "import tracemalloc; peak = tracemalloc.get_traced_memory()[1]; tracemalloc.stop(); peak"


def seed_job(harness: Harness, size: int) -> str:
    """A completed job whose audio is ``size`` bytes in R2; its id."""
    reply = harness.fetch("api", "/v1/jobs", method="POST", json_body={"text": "benchmark", "model": "tone"}, headers=AUTH)
    assert reply.status == 202, reply.body
    job_id = reply.json()["jobId"]
    key = f"audio/2026/01/01/{job_id}.wav"
    data = os.urandom(size)
    meta = harness.call(
        "r2_put", bucket=BUCKET, key=key, bodyBase64=base64.b64encode(data).decode(),
        httpMetadata={"contentType": "audio/wav"}, customMetadata={"jobId": job_id},
    )
    shard = shard_for(job_id, 4)
    rpc = {"worker": "api", "binding": "JOBS", "name": shard}
    harness.call("do_call", **rpc, method="claim", args=[{"job_id": job_id, "lease_seconds": 600}])
    harness.call(
        "do_call", **rpc, method="complete",
        args=[{"job_id": job_id, "audio_key": key, "mime_type": "audio/wav", "size_bytes": size, "etag": meta["etag"]}],
    )
    return job_id


def measure(node: str, path_name: str, size: int, requests: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(node, Path(tmp) / "harness.log", timeout=600)
        try:
            spec = worker_spec(
                REPO_ROOT / "workers/api",
                secrets={"API_TOKENS": f"bench:{TOKEN}", "SIGNING_KEY": "bench-signing-key-0123456789abcdef0123"},
                vars_override={"LEGACY_RESULT_MAX_BYTES": str(4 * size), "JOB_RATE_LIMIT": "0"},
            )
            harness.add_workers({"api": spec})
            harness.call("start", worker="api")
            job_id = seed_job(harness, size)
            assert harness.fetch("api", f"/v1/jobs/{job_id}", headers=AUTH).status == 200  # warm the Worker
            if path_name == "bytes":
                harness.run_python("api", COPY_THROUGH_PYTHON)
            url = f"/v1/jobs/{job_id}/result" if path_name == "legacy" else f"/v1/jobs/{job_id}/audio"
            runs = []
            for _ in range(requests):
                harness.run_python("api", TRACE_START)
                stats = harness.call("fetch_stats", worker="api", path=url, headers=AUTH, timeout=600)
                stats["python_peak"] = harness.run_python("api", TRACE_STOP)
                if stats["status"] != 200:
                    raise RuntimeError(f"{path_name}: HTTP {stats['status']}")
                runs.append(stats)
        finally:
            harness.close()
    first = runs[0]
    return {
        "path": path_name,
        "bytes": first["bytes"],
        "handler_ms": statistics.median(r["handler_ms"] for r in runs),
        "body_ms": statistics.median(r["body_ms"] for r in runs),
        "total_ms": statistics.median(r["handler_ms"] + r["body_ms"] for r in runs),
        "cpu_ms": statistics.median(r["cpu_ms"] for r in runs),
        "python_peak": max(r["python_peak"] for r in runs),
        "wasm_before": first["wasm_before"],
        "wasm_after": first["wasm_after"],
        "array_buffers_peak": max(r["array_buffers_peak"] for r in runs),
    }


def audio_table(node: str, size: int, requests: int, paths: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The measurements of each path, as Markdown lines and as rows."""
    rows = [measure(node, p, size, requests) for p in paths]
    lines = [
        f"A {size:,}-byte object; median of {requests} requests per path (memory: the largest seen).",
        "",
        "| path | response bytes | handler ms | body ms | total ms | process CPU ms | Python heap peak MiB "
        "| Wasm heap MiB before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['bytes']:,} | {r['handler_ms']:.0f} | {r['body_ms']:.0f} | {r['total_ms']:.0f} "
            f"| {r['cpu_ms']:.0f} | {r['python_peak'] / MiB:.1f} | {r['wasm_before'] / MiB:.0f} -> "
            f"{r['wasm_after'] / MiB:.0f} |"
        )
    return lines, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=20.0, help="object size in MB (10**6 bytes)")
    parser.add_argument("--requests", type=int, default=3, help="measured requests per path")
    parser.add_argument("--paths", nargs="*", default=["stream", "bytes", "legacy"])
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    node = subprocess.run(
        ["bash", str(REPO_ROOT / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]
    lines, rows = audio_table(node, int(args.mb * 1_000_000), args.requests, args.paths)
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
