"""``python -m bench``: run every benchmark on the local runtime and rewrite docs/benchmarks.md.

    python -m bench                      # the full run (a few minutes on 2 cores)
    python -m bench --baseline <commit>  # also measure <commit> with the same benchmark code: before/after columns
    python -m bench --at HEAD --revert c1,c2  # HEAD's committed code, before/after the commits c1, c2
    python -m bench --smoke --out /tmp/b.md   # tiny sizes: proves the command works (CI)

Also ``tts-pipeline bench ...`` with the same arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import sections
from bench import machine

ROOT = Path(__file__).resolve().parent.parent


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per concurrency level (default 2000)")
    parser.add_argument("--clients", type=_ints, default=[1, 8, 64], help="concurrent clients, comma separated")
    parser.add_argument("--sizes", type=_floats, default=[1, 10, 50], help="audio sizes in MB for the memory benchmark")
    parser.add_argument("--repeat", type=int, default=2, help="throughput runs per client count; the best is kept")
    parser.add_argument("--closed-loop-jobs", type=int, default=20)
    parser.add_argument("--poll-interval", type=float, default=0.02, help="seconds between status polls (closed loop)")
    parser.add_argument("--ops-jobs", type=int, default=200)
    parser.add_argument("--history", type=int, default=40_000, help="finished jobs a tenant already has (history run)")
    parser.add_argument("--history-jobs", type=int, default=300)
    parser.add_argument("--rates", type=_floats, default=[50, 100, 200], help="open-loop offered submits per second")
    parser.add_argument("--rate-seconds", type=float, default=10.0, help="seconds of each open-loop rate")
    parser.add_argument("--reaper-jobs", type=int, default=100_000, help="jobs seeded for the reaper run")
    parser.add_argument("--reaper-orphans", type=int, default=60_000, help="orphaned objects seeded for the reaper run")
    parser.add_argument("--lone-rounds", type=int, default=15,
                        help="lone jobs per path and variant (before/after), interleaved, on each runtime")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="skip the py-spy profile of one more run at the most clients")
    parser.add_argument("--no-workerd", action="store_true",
                        help="skip the workerd phase (lone jobs and consumer invocations per job in workerd)")
    parser.add_argument("--baseline", metavar="REV", help="also measure this git revision (before/after)")
    parser.add_argument("--at", metavar="REV", help="measure this revision's committed code, not the work tree")
    parser.add_argument("--revert", metavar="COMMITS", type=lambda t: [c for c in t.split(",") if c],
                        help="the baseline is --baseline (default: --at, or HEAD) with these commits undone")
    parser.add_argument("--result-max-bytes", type=int, default=None,
                        help="LEGACY_RESULT_MAX_BYTES in the memory cases (default: the setting's default)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, to prove the command runs")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--no-report", action="store_true", help="measure only (with --json)")
    parser.add_argument("--from-json", type=Path, metavar="PATH",
                        help="measure nothing: write the report from the results a run saved with --json")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def add_bench_command(sub: Any) -> None:
    """``tts-pipeline bench``: the same command under the project's CLI."""
    parser = sub.add_parser("bench", help="run the benchmarks, rewrite docs/benchmarks.md", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.set_defaults(func=lambda args: run(args, "tts-pipeline " + shlex.join(sys.argv[1:])))


def _log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from bench import latency, memory, ops, reaper_scale, throughput

    results: dict[str, Any] = {"machine": machine.describe(), "timings": {}}
    with tempfile.TemporaryDirectory(prefix="bench-") as work:
        work_dir = Path(work)
        began = time.monotonic()
        _log(f"lone jobs: {args.lone_rounds} per path (Prefer, ?wait, events, speech), before and after, interleaved")
        results["lone"] = latency.local(args.lone_rounds, work_dir)
        results["timings"]["lone"] = time.monotonic() - began

        began = time.monotonic()
        runs = []
        floors = []
        plains = []
        for clients in args.clients:
            tries = []
            floor_tries = []
            plain_tries = []
            for attempt in range(args.repeat):
                # The floor right before the pipeline, at the same concurrency: both see the same load.
                _log(f"floor: {args.jobs} jobs synthesized and stored durably, {clients} at a time ({attempt + 1}/{args.repeat})")
                floor_tries.append(throughput.floor(args.jobs, clients))
                if clients == max(args.clients):
                    _log(f"plain baseline: {clients} clients, {args.jobs} jobs ({attempt + 1}/{args.repeat})")
                    plain_tries.append(throughput.run_plain_clients(clients, args.jobs, work_dir / f"try-{attempt}"))
                _log(f"throughput: {clients} clients, {args.jobs} jobs ({attempt + 1}/{args.repeat})")
                tries.append(throughput.run_clients(clients, args.jobs, work_dir / f"try-{attempt}"))
            # Best of the tries: other work on the machine only ever slows a run down.
            runs.append(asdict(max(tries, key=lambda r: r.jobs_per_second)))
            floors.append(asdict(max(floor_tries, key=lambda r: r.jobs_per_second)))
            if plain_tries:
                plains.append(asdict(max(plain_tries, key=lambda r: r.jobs_per_second)))
            # Every try, for the spread: jobs/s and CPU per job of each.
            runs[-1]["tries"] = [(r.jobs_per_second, r.runtime_cpu_ms_per_job) for r in tries]
            floors[-1]["tries"] = [(r.jobs_per_second, r.cpu_ms_per_job) for r in floor_tries]
            if plain_tries:
                plains[-1]["tries"] = [(r.jobs_per_second, r.runtime_cpu_ms_per_job) for r in plain_tries]
        results["throughput"] = runs
        results["floors"] = floors
        results["plain"] = plains
        if args.profile and not args.smoke:
            from bench import profile

            clients = max(args.clients)
            if profile.py_spy() is None:
                results["profile"] = {"error": "py-spy is not installed (pip install py-spy)"}
            else:
                _log(f"profile: one more {clients}-client run under py-spy (not counted in the tables above)")
                folded = work_dir / "profile.txt"
                run = throughput.run_clients(clients, args.jobs, work_dir / "profiled", profile=folded)
                results["profile"] = {**profile.summarise(folded.read_text() if folded.exists() else ""),
                                      "clients": clients, "jobs": run.jobs, "jobs_per_second": run.jobs_per_second}
        results["repeat"] = args.repeat
        results["timings"]["throughput"] = time.monotonic() - began

        began = time.monotonic()
        _log("synthesis CPU per job: tone and the default local voice, alone")
        results["synthesis_cpu"] = throughput.synthesis_cpu(5 if args.smoke else 40)
        results["timings"]["synthesis_cpu"] = time.monotonic() - began

        if not args.no_workerd:
            began = time.monotonic()
            _log(f"workerd: lone jobs, {args.lone_rounds} per path, before and after; invocations per job")
            try:
                results["workerd"] = latency.workerd(args.lone_rounds, work_dir)
            except Exception as exc:  # noqa: BLE001 - no workerd here: say so in the report
                results["workerd"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            results["timings"]["workerd"] = time.monotonic() - began

        began = time.monotonic()
        _log(f"closed loop: {args.closed_loop_jobs} jobs, polling every {args.poll_interval * 1000:.0f} ms")
        results["closed_loop"] = asdict(throughput.closed_loop(args.closed_loop_jobs, args.poll_interval, work_dir))
        results["timings"]["closed_loop"] = time.monotonic() - began

        began = time.monotonic()
        results["open_loop"] = []
        for rate in args.rates:
            _log(f"open loop: {rate:g} submits/s for {args.rate_seconds:g} s")
            results["open_loop"].append(asdict(throughput.open_loop(rate, args.rate_seconds, work_dir)))
        results["timings"]["open_loop"] = time.monotonic() - began

        began = time.monotonic()
        _log(f"history: {args.history_jobs} submits for a tenant with {args.history} unexpired jobs")
        results["history"] = asdict(throughput.submit_with_history(args.history, args.history_jobs, work_dir))
        results["timings"]["history"] = time.monotonic() - began

    began = time.monotonic()
    _log(f"billable operations: {args.ops_jobs} jobs, phase by phase")
    results["ops"] = asdict(ops.run(args.ops_jobs))
    results["timings"]["ops"] = time.monotonic() - began

    began = time.monotonic()
    _log(f"memory and CPU per job: {args.sizes} MB")
    results["memory"] = [asdict(r) for r in memory.run(args.sizes, args.result_max_bytes)]
    results["timings"]["memory"] = time.monotonic() - began

    began = time.monotonic()
    _log(f"reaper: {args.reaper_jobs} jobs and {args.reaper_orphans} orphaned objects, one default-budget run")
    results["reaper"] = reaper_scale.one_run(args.reaper_jobs, args.reaper_orphans)
    results["timings"]["reaper"] = time.monotonic() - began
    return results


def _short(rev: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def _undo(commit: str, tree: str) -> None:
    """Apply ``commit`` in reverse (bench/ aside) to an exported tree; when later commits moved the
    lines around it, match the changed lines alone (no context)."""
    for context, extra in (("-U3", []), ("-U0", ["--unidiff-zero"])):
        patch = subprocess.run(["git", "diff", context, f"{commit}~1", commit, "--", ".", ":!bench"], cwd=ROOT,
                               capture_output=True, check=True).stdout
        if subprocess.run(["git", "apply", "-R", *extra], cwd=tree, input=patch, capture_output=True).returncode == 0:
            return
    raise RuntimeError(f"cannot undo {commit} on this tree: later commits changed the same lines")


def measure_revision(rev: str, argv: Sequence[str], revert: Sequence[str] = ()) -> dict[str, Any]:
    """Measure a revision's committed code (optionally with ``revert`` commits undone) with this
    benchmark code, in an export of it."""
    commit = _short(rev)
    undone = [_short(c) for c in revert]
    label = f"{commit} without {', '.join(undone)}" if undone else commit
    with tempfile.TemporaryDirectory(prefix="bench-tree-") as tree:
        archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tree], input=archive, check=True)
        for c in reversed(undone):
            _undo(c, tree)
        shutil.rmtree(Path(tree) / "bench", ignore_errors=True)
        shutil.copytree(ROOT / "bench", Path(tree) / "bench", ignore=shutil.ignore_patterns("__pycache__"))
        out = Path(tree) / "results.json"
        _log(f"{label}: measuring in {tree}")
        subprocess.run([sys.executable, "-m", "bench", *argv, "--no-report", "--json", str(out)],
                       cwd=tree, check=True, env={**os.environ, "BENCH_COMMIT": label})
        current: dict[str, Any] = json.loads(out.read_text())["current"]
        return current


def _kept_sections(doc: Path) -> str:
    """The sections other commands write (bench/sections.py), as they are."""
    return sections.kept_sections(doc)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run(build_parser().parse_args(argv), "python -m bench " + shlex.join(argv) if argv else "python -m bench")


def _argv_for_baseline(args: argparse.Namespace) -> list[str]:
    """The measuring options of ``args``, to measure the baseline the same way."""
    if args.smoke:
        return ["--smoke"]
    # The lone-job phase runs both rules side by side in the current run already, and workerd takes minutes
    # to start: the baseline measures a few lone jobs, and no workerd.
    return [
        "--jobs", str(args.jobs), "--clients", ",".join(map(str, args.clients)), "--repeat", str(args.repeat),
        "--sizes", ",".join(f"{s:g}" for s in args.sizes), "--closed-loop-jobs", str(args.closed_loop_jobs),
        "--poll-interval", f"{args.poll_interval:g}", "--ops-jobs", str(args.ops_jobs),
        "--history", str(args.history), "--history-jobs", str(args.history_jobs),
        "--rates", ",".join(f"{r:g}" for r in args.rates), "--rate-seconds", f"{args.rate_seconds:g}",
        "--reaper-jobs", str(args.reaper_jobs), "--reaper-orphans", str(args.reaper_orphans),
        "--lone-rounds", str(min(args.lone_rounds, 3)), "--no-workerd",
        *([] if args.profile else ["--no-profile"]),
    ] + (["--result-max-bytes", str(args.result_max_bytes)] if args.result_max_bytes else [])


def run(args: argparse.Namespace, command: str) -> int:
    if args.smoke:
        args.jobs, args.clients, args.sizes, args.repeat = 40, [1, 4], [0.1], 1
        args.closed_loop_jobs, args.ops_jobs = 2, 10
        args.history, args.history_jobs = 200, 5
        # Every phase, tiny: a memory case over a lowered LEGACY_RESULT_MAX_BYTES shows /result's 413.
        args.sizes, args.result_max_bytes = [0.1, 0.3], 200_000
        args.rates, args.rate_seconds = [20], 1.0
        args.reaper_jobs, args.reaper_orphans = 400, 100
        args.lone_rounds, args.no_workerd = 2, True  # workerd takes minutes to start: `python -m bench.workerd --smoke`
    if args.at:  # resolved once: others may commit while this runs
        args.at = _short(args.at)
    if args.baseline:
        args.baseline = _short(args.baseline)
    if args.from_json:  # the report again, from a run's saved results (after an edit of bench/report.py)
        saved = json.loads(args.from_json.read_text())
        _write_report(args.out, saved["current"], saved["baseline"])
        return 0
    started = time.monotonic()
    results = measure_revision(args.at, _argv_for_baseline(args)) if args.at else measure(args)
    results["command"] = command
    results["seconds"] = time.monotonic() - started
    baseline = None
    if args.json:  # kept if the baseline's run fails
        args.json.write_text(json.dumps({"current": results, "baseline": None}, indent=1))
    if args.baseline or args.revert:
        baseline = measure_revision(args.baseline or args.at or "HEAD", _argv_for_baseline(args), args.revert or ())
        baseline["seconds"] = time.monotonic() - started - results["seconds"]
    if args.json:
        args.json.write_text(json.dumps({"current": results, "baseline": baseline}, indent=1))
    if not args.no_report:
        _write_report(args.out, results, baseline)
        _log(f"wrote {args.out} in {time.monotonic() - started:.0f} s")
    return 0


def _write_report(out: Path, results: dict[str, Any], baseline: dict[str, Any] | None) -> None:
    from bench.report import render

    out.parent.mkdir(parents=True, exist_ok=True)
    kept = _kept_sections(out)  # bench/sections.py: written by their own commands
    out.write_text(render(results, baseline) + (f"\n{kept}\n" if kept else ""))


if __name__ == "__main__":
    raise SystemExit(main())
