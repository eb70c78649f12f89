"""Cold-start timings of Workers in Pyodide, as a Markdown table.

    python tests/pyodide/cold_start.py [--runs N] [WORKER ...]

WORKER is ``mini`` (the harness's fixture) or a folder under ``workers/``
(default: all of them that have an entry module). Each run starts a fresh
harness process and one Worker in it, so runs do not share a warm
interpreter; the table shows the median of the runs, in milliseconds, of
wall time and of the process's CPU time (less sensitive to a busy machine;
it includes V8's background Wasm compilation).
A benchmark script, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from pyodide_harness import REPO_ROOT, Harness, worker_spec  # noqa: E402

COLUMNS = [
    "loadPyodide_ms",
    "install_wheels_ms",
    "import_pydantic_ms",
    "import_workers_sdk_ms",
    "import_entry_ms",
    "total_ms",
]


def spec_for(name: str) -> dict:
    if name == "mini":
        return worker_spec(Path(__file__).parent / "fixtures/mini_worker")
    return worker_spec(REPO_ROOT / "workers" / name, script_names={"tts-api": "api"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("workers", nargs="*")
    args = parser.parse_args()
    names = args.workers or ["mini"] + sorted(
        p.parent.parent.name for p in (REPO_ROOT / "workers").glob("*/src/entry.py")
    )
    node = subprocess.run(
        ["bash", str(REPO_ROOT / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]

    print("| worker | clock | " + " | ".join(c.removesuffix("_ms") for c in COLUMNS) + " |")
    print("|---" * (len(COLUMNS) + 2) + "|")
    for name in names:
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                harness = Harness(node, Path(tmp) / "harness.log")
                try:
                    harness.add_workers({name: spec_for(name)})
                    runs.append(harness.call("start", worker=name))
                finally:
                    harness.close()
        for clock, suffix in (("wall", "_ms"), ("cpu", "_cpu_ms")):
            medians = [statistics.median(r[c.removesuffix("_ms") + suffix] for r in runs) for c in COLUMNS]
            print(f"| {name} | {clock} | " + " | ".join(f"{m:.0f}" for m in medians) + " |")


if __name__ == "__main__":
    main()
