"""Synthesis off the event loop: jobs/s and CPU per job of one build against another, per model.

Run: ``python -m bench.synthesis --baseline REV [--models tone,espeak] [--clients 1,8,64] [--jobs 1000]
[--repeat 2] [--write]``. Each point (model, clients) is measured on every layout, one after the
other, ``--repeat`` times, and the best run of each is kept: the layouts see the same machine load.
The layouts:

- the baseline revision's ``tts-pipeline dev`` as it was (its default layout), and, when that build has
  ``--single-process``, that too;
- this tree's ``tts-pipeline dev`` (one process, synthesis in the ``SYNTHESIS_THREADS`` pool, Cloudflare's
  limits enforced);
- with ``--limits-cost``, this tree again with ``ENFORCE_CLOUDFLARE_LIMITS=0``, and with it off and
  ``PYTHONTRACEMALLOC=1`` (what measuring memory with ``tracemalloc`` would cost every allocation).

A run is ``bench.throughput.run_clients``: a fresh runtime, N clients submitting back to back, the
queue drained; runtime CPU is summed over the runtime's processes. The baseline is an export of
``REV`` (``git archive``) run from its own directory with this checkout's virtualenv. ``--write``
replaces the ``<!-- synthesis:begin -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench import machine, sections
from bench.runtime_proc import ROOT, RuntimeProcess
from bench.throughput import TEXT, run_clients

DOC = ROOT / "docs" / "benchmarks.md"


@dataclass(frozen=True)
class Layout:
    label: str
    root: Path
    dev_args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)


def _export(rev: str, into: Path) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return commit


def layouts(baseline: str | None, tree: Path, limits_cost: bool = False) -> tuple[list[Layout], str | None]:
    out: list[Layout] = []
    commit = None
    if baseline:
        commit = _export(baseline, tree)
        out.append(Layout(f"{commit}: `tts-pipeline dev` (its default)", tree))
        if RuntimeProcess.supports("--single-process", tree):
            out.append(Layout(f"{commit}: `tts-pipeline dev --single-process`", tree, ("--single-process",)))
    out.append(Layout("this tree: `tts-pipeline dev`", ROOT))
    if limits_cost:
        off = {"ENFORCE_CLOUDFLARE_LIMITS": "0"}
        out.append(Layout("this tree, `ENFORCE_CLOUDFLARE_LIMITS=0`", ROOT, env=off))
        out.append(Layout("this tree, limits off, `PYTHONTRACEMALLOC=1`", ROOT, env={**off, "PYTHONTRACEMALLOC": "1"}))
    return out, commit


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine.describe(), "points": [], "jobs": args.jobs, "text": TEXT,
                               "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as work, \
            tempfile.TemporaryDirectory(prefix="bench-synth-tree-") as tree:
        chosen, commit = layouts(args.baseline, Path(tree), args.limits_cost)
        results["baseline"] = commit
        results["layouts"] = [layout.label for layout in chosen]
        run = 0
        for model in args.models:
            for clients in args.clients:
                best: dict[str, Any] = {}
                for attempt in range(args.repeat):
                    for layout in chosen:
                        run += 1
                        print(f"[bench.synthesis] {model}, {clients} clients, {layout.label} "
                              f"({attempt + 1}/{args.repeat})", file=sys.stderr, flush=True)
                        r = run_clients(clients, args.jobs, Path(work) / f"run-{run}", layout.env, layout.dev_args,
                                        model=model, root=layout.root)
                        if layout.label not in best or r.jobs_per_second > best[layout.label].jobs_per_second:
                            best[layout.label] = r
                for label, r in best.items():
                    results["points"].append({"model": model, "clients": clients, "layout": label,
                                              "jobs_per_second": r.jobs_per_second, **asdict(r)})
    return results


def _n(x: float, digits: int = 1) -> str:
    return f"{x:,.{digits}f}"


def render(results: dict[str, Any], command: str) -> str:
    begin, end = sections.markers("synthesis")
    rows = []
    for p in results["points"]:
        rows.append(f"| {p['model']} | {p['clients']} | {p['layout']} | {_n(p['jobs_per_second'], 0)} | "
                    f"{_n(p['runtime_cpu_ms_per_job'], 2)} | {_n(p['runtime_peak_rss_mib'], 0)} | "
                    f"{_n(p['completion_latency_ms']['p50'], 0)} | {p['errors']} |")
    m = results["machine"]
    return "\n".join([
        begin,
        "## Synthesis off the event loop: one process, a thread pool",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} in {results['seconds'] / 60:.1f} min, on "
        f"{m['cpu']} ({m['nproc']} CPUs, load {m['load']} at the start; this tree {m['commit']}). Each row: {results['jobs']} jobs of "
        f"{json.dumps(results['text'])}, the clients submitting back to back, best of {results['repeat']} runs; "
        "the layouts take turns at each point, so they see the same load. Runtime CPU and peak RSS are summed "
        "over the runtime's processes.",
        "",
        "| model | clients | layout | jobs/s | runtime CPU ms/job | peak RSS MiB | submit-to-completed p50 ms "
        "| errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        end,
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synthesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision's runtime")
    parser.add_argument("--models", type=lambda t: [m for m in t.split(",") if m], default=["tone", "espeak"])
    parser.add_argument("--clients", type=lambda t: [int(c) for c in t.split(",") if c], default=[1, 8, 64])
    parser.add_argument("--jobs", type=int, default=1000, help="jobs per run (default 1000)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per layout and point; the best is kept")
    parser.add_argument("--limits-cost", action="store_true",
                        help="also this tree with the limits off, and off with tracemalloc on")
    parser.add_argument("--write", action="store_true", help="replace the section in docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    command = "python -m bench.synthesis " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    began = time.monotonic()
    results = measure(args)
    results["seconds"] = time.monotonic() - began
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    text = render(results, command.strip())
    if args.write:
        sections.write_section("synthesis", text, DOC)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
