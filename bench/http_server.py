"""The local HTTP server alone: its CPU per request under 64 keep-alive clients, by parser and build.

    python -m bench.http_server                        # h11 and httptools, this tree, 5 rounds interleaved
    python -m bench.http_server --baseline <commit>    # and <commit>'s server (git archive), the same way

Each try starts ``local_runtime.server.HttpServer`` in a fresh process serving a
JSON answer (the size of a submit's 202) to ``--requests`` POSTs of a submit's
body, from ``--clients`` threads each on its own keep-alive ``http.client``
connection; the server process reports its own CPU time (user + system) from
the first request to the last. No shards, queue or synthesis: what is left is
the server, its parser and the ASGI glue. The variants take turns (each round
in a rotated order), and the median of the rounds is printed with min and max.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BODY = json.dumps({"text": "Hello from the pipeline", "model": "tone"}).encode()

SERVE = """
import asyncio, json, resource, sys
sys.path.insert(0, sys.argv[1])
from local_runtime.server import HttpServer
from shared.http import HttpResponse

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

async def main():
    total, served, first, done = int(sys.argv[2]), 0, 0.0, asyncio.Event()
    async def app(request):
        nonlocal served, first
        if served == 0:
            first = cpu()
        served += 1
        if served == total:
            done.set()
        return HttpResponse.json(202, {"jobId": "j" * 26, "status": "queued", "bytes": len(request.body)})
    options = {"parser": sys.argv[3]} if len(sys.argv) > 3 else {}
    server = HttpServer(app, "127.0.0.1", 0, **options)
    await server.start()
    print(server.port, flush=True)
    await done.wait()
    used = cpu() - first
    print(json.dumps({"cpu_us_per_request": used / max(1, total - 1) * 1e6}), flush=True)
    await server.stop()

asyncio.run(main())
"""


def _client(port: int, count: int, failures: list[str]) -> None:
    conn = HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(count):
            conn.request("POST", "/v1/jobs", body=BODY, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != 202:
                failures.append(str(response.status))
    finally:
        conn.close()


def one_try(root: Path, parser: str | None, requests: int, clients: int) -> float:
    """Server CPU microseconds per request for the tree ``root`` (``parser`` None: its default)."""
    per_client = requests // clients
    args = [sys.executable, "-c", SERVE, str(root), str(per_client * clients), *([parser] if parser else [])]
    with subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=root) as server:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        failures: list[str] = []
        threads = [threading.Thread(target=_client, args=(port, per_client, failures)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        result = json.loads(server.stdout.readline())
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {failures[:3]}")
    return float(result["cpu_us_per_request"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_server", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=12_800, help="requests per try (default 12,800)")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision's server (its default parser)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-http-") as work:
        variants: dict[str, tuple[Path, str | None]] = {"h11": (ROOT, "h11"), "httptools": (ROOT, "httptools")}
        if args.baseline:
            tree = Path(work) / "baseline"
            tree.mkdir()
            archive = subprocess.run(["git", "archive", args.baseline], cwd=ROOT, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
            variants = {f"{args.baseline} (its default)": (tree, None), **variants}
        names = list(variants)
        results: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(args.rounds):
            for name in names[round_ % len(names):] + names[: round_ % len(names)]:
                root, http = variants[name]
                results[name].append(one_try(root, http, args.requests, args.clients))
                print(f"round {round_ + 1}: {name}: {results[name][-1]:.1f} µs/request", file=sys.stderr, flush=True)
    print(f"server CPU per request, {args.clients} keep-alive clients, {args.requests} requests a try, "
          f"{args.rounds} rounds interleaved: median (min-max)")
    for name, values in results.items():
        print(f"{name}: {statistics.median(values):.1f} µs ({min(values):.1f}-{max(values):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
