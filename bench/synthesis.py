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

Beside it, ``gil_handoff``: one eSpeak NG sentence synthesized on a thread, alone and with a busy
Python thread beside it (as the event loop is under load), wall ms per sentence: what a thread pool
can give a native model that calls back into Python.

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
import threading
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


def gil_handoff(sentences: int = 100) -> dict[str, float] | None:
    """Wall ms per eSpeak sentence on a thread, alone and beside a busy Python thread (None: no eSpeak here)."""
    from shared.synthesis.espeak import EspeakSynthesizer

    if not EspeakSynthesizer.available():
        return None
    synth = EspeakSynthesizer()
    text = TEXT.encode()

    def per_sentence() -> float:
        began = time.perf_counter()
        for _ in range(sentences):
            synth.synthesize_pcm_blocking(text, "en-us")
        return (time.perf_counter() - began) / sentences * 1000

    def on_thread() -> float:
        out: list[float] = []
        worker = threading.Thread(target=lambda: out.append(per_sentence()))
        worker.start()
        worker.join()
        return out[0]

    alone = on_thread()
    stop = threading.Event()

    def busy() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    spinner = threading.Thread(target=busy)
    spinner.start()
    try:
        beside = on_thread()
    finally:
        stop.set()
        spinner.join()
    return {"alone_ms": alone, "beside_busy_thread_ms": beside}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"machine": machine.describe(), "points": [], "jobs": args.jobs, "text": TEXT,
                               "repeat": args.repeat, "gil_handoff": gil_handoff()}
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


def _summary(results: dict[str, Any]) -> list[str]:
    """What the table says, as ratios of layouts measured side by side."""
    points = results["points"]
    labels = results["layouts"]
    lines: list[str] = []
    for model in dict.fromkeys(p["model"] for p in points):
        top = max(p["clients"] for p in points if p["model"] == model)
        at = {p["layout"]: p for p in points if p["model"] == model and p["clients"] == top}
        ours = at.get("this tree: `tts-pipeline dev`")
        if ours is None:
            continue
        said = []
        for label in labels[: labels.index("this tree: `tts-pipeline dev`")]:
            other = at[label]
            said.append(f"{ours['jobs_per_second'] / other['jobs_per_second']:.2f}x the jobs/s of {label} "
                        f"({_n(other['runtime_cpu_ms_per_job'], 2)} -> {_n(ours['runtime_cpu_ms_per_job'], 2)} ms CPU "
                        f"a job, {_n(other['runtime_peak_rss_mib'], 0)} -> {_n(ours['runtime_peak_rss_mib'], 0)} MiB)")
        off = at.get("this tree, `ENFORCE_CLOUDFLARE_LIMITS=0`")
        traced = at.get("this tree, limits off, `PYTHONTRACEMALLOC=1`")
        if off is not None:
            said.append(f"with the limits on, {ours['runtime_cpu_ms_per_job'] - off['runtime_cpu_ms_per_job']:+.2f} ms "
                        f"CPU a job against them off")
        if off is not None and traced is not None:
            said.append(f"tracemalloc would cost {traced['runtime_cpu_ms_per_job'] / off['runtime_cpu_ms_per_job']:.1f}x "
                        f"the CPU a job")
        if said:
            lines.append(f"- **{model}, {top} clients**: this tree does " + "; ".join(said) + ".")
    gil = results.get("gil_handoff")
    if gil:
        lines.append(
            f"- **eSpeak NG on a thread**: {_n(gil['alone_ms'], 2)} ms a sentence alone, "
            f"{_n(gil['beside_busy_thread_ms'], 2)} ms beside a busy Python thread. The C library runs without "
            "the GIL, but it must take the GIL back to return from each call and for each audio callback, and a busy "
            "event loop hands it over only at its switch interval (5 ms) or its next system call; so on a loaded "
            "loop a thread gives eSpeak less than a core, where a process of its own gave it one."
        )
    return lines


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
        f"{m['cpu']} ({m['nproc']} CPUs, load {m['load']} at the start; this tree {m['commit']}). Each row: "
        f"{results['jobs']} jobs of {json.dumps(results['text'])}, the clients submitting back to back, best of "
        f"{results['repeat']} runs; the layouts take turns at each point, so they see the same load (the machine "
        "is shared: absolute jobs/s move by tens of percent between runs, side-by-side ratios less). Runtime CPU "
        "and peak RSS are summed over the runtime's processes. The baseline's default ran the api, the consumer "
        "and the reaper in a process each and the Durable Object shards in a supervisor; its `--single-process` "
        "and this tree run one process, this tree with the offline models' synthesis in its `SYNTHESIS_THREADS` "
        "pool and Cloudflare's per-invocation limits enforced.",
        "",
        "| model | clients | layout | jobs/s | runtime CPU ms/job | peak RSS MiB | submit-to-completed p50 ms "
        "| errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        "",
        *_summary(results),
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
    parser.add_argument("--render", type=Path, metavar="JSON", help="only render results saved by --json")
    args = parser.parse_args(argv)
    command = "python -m bench.synthesis " + shlex.join(list(argv if argv is not None else sys.argv[1:]))
    if args.render:
        saved = json.loads(args.render.read_text())
        print(render(saved, saved["command"]))
        return 0
    began = time.monotonic()
    results = measure(args)
    results["seconds"] = time.monotonic() - began
    results["command"] = command.strip()
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    text = render(results, command.strip())
    if args.write:
        sections.write_section("synthesis", text, DOC)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
