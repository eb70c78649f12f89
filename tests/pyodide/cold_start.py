"""Cold-start timings of Workers in Pyodide, as a Markdown table.

    python tests/pyodide/cold_start.py [--runs N] [WORKER ...]
    python tests/pyodide/cold_start.py --imports [--top N] WORKER ...

WORKER is ``mini`` (the harness's fixture) or a folder under ``workers/``
(default: all of them that have an entry module). Each run starts a fresh
harness process and one Worker in it, so runs do not share a warm
interpreter; the table shows the median of the runs, in milliseconds, of
wall time and of the process's CPU time (less sensitive to a busy machine;
it includes V8's background Wasm compilation).
``--imports`` instead profiles one start of each Worker the way
``python -X importtime`` would (tests/pyodide/harness/importtime.py): the
entry module's import, then its heaviest modules by cumulative time, and
the self time summed per package.
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


def node_binary() -> str:
    """Node 24 from tools/node (the setup script installs it when missing)."""
    return subprocess.run(
        ["bash", str(REPO_ROOT / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True
    ).stdout.split()[-1]


def all_workers() -> list[str]:
    return ["mini"] + sorted(p.parent.parent.name for p in (REPO_ROOT / "workers").glob("*/src/entry.py"))


def cold_start_table(node: str, names: list[str], runs: int) -> list[str]:
    """Medians of ``runs`` fresh starts per Worker, wall and CPU, as Markdown lines."""
    lines = [
        "| worker | clock | " + " | ".join(c.removesuffix("_ms") for c in COLUMNS) + " |",
        "|---" * (len(COLUMNS) + 2) + "|",
    ]
    for name in names:
        results = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory() as tmp:
                harness = Harness(node, Path(tmp) / "harness.log")
                try:
                    harness.add_workers({name: spec_for(name)})
                    results.append(harness.call("start", worker=name))
                finally:
                    harness.close()
        for clock, suffix in (("wall", "_ms"), ("cpu", "_cpu_ms")):
            medians = [statistics.median(r[c.removesuffix("_ms") + suffix] for r in results) for c in COLUMNS]
            lines.append(f"| {name} | {clock} | " + " | ".join(f"{m:.0f}" for m in medians) + " |")
    return lines


def import_profile(node: str, name: str, top: int) -> list[str]:
    """One start with the import profiler on: the entry's heaviest imports, as Markdown lines."""
    spec = spec_for(name) | {"profile_imports": True}
    with tempfile.TemporaryDirectory() as tmp:
        harness = Harness(node, Path(tmp) / "harness.log")
        try:
            harness.add_workers({name: spec})
            timings = harness.call("start", worker=name)
            rows = harness.run_python(name, "import _harness_importtime; _harness_importtime.report()")
        finally:
            harness.close()
    start = next(i for i, r in enumerate(rows) if r[0] == spec["main"])
    entry = rows[start : start + 1 + sum(1 for r in rows[start + 1 :] if r[3] > rows[start][3])]
    lines = [
        f"**{name}**: `import {spec['main']}` {entry[0][2]:.0f} ms wall "
        f"(harness: import_entry {timings['import_entry_ms']} ms, {timings['import_entry_cpu_ms']} ms CPU)",
        "",
        "| module | cumulative ms | self ms |",
        "|---|---|---|",
    ]
    for module, self_ms, cumulative, _ in sorted(entry[1:], key=lambda r: -r[2])[:top]:
        lines.append(f"| `{module}` | {cumulative:.1f} | {self_ms:.1f} |")
    groups: dict[str, float] = {}
    for module, self_ms, _, _ in entry[1:]:
        parts = module.split(".")
        key = ".".join(parts[:2]) if parts[0] in ("shared", "cloudflare_adapters") else parts[0]
        groups[key] = groups.get(key, 0.0) + self_ms
    lines += ["", "Self time by package (ms): " + ", ".join(
        f"`{k}` {v:.0f}" for k, v in sorted(groups.items(), key=lambda kv: -kv[1]) if v >= 2) + "."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--imports", action="store_true", help="profile the entry's imports instead")
    parser.add_argument("--top", type=int, default=15, help="--imports: modules to list")
    parser.add_argument("workers", nargs="*")
    args = parser.parse_args()
    names = args.workers or all_workers()
    node = node_binary()
    if args.imports:
        for name in names:
            print("\n".join(["", *import_profile(node, name, args.top)]))
        return
    print("\n".join(cold_start_table(node, names, args.runs)))


if __name__ == "__main__":
    main()
