"""Long jobs, end to end: wall time, time to first chunk, chunks per second, peak memory as audio grows.

Run: ``python -m bench.longform [--runtime local|workerd|both] [--cases espeak100k,tone10,tone100,tone500]
[--write]``. Each case starts a fresh runtime (``tts-pipeline dev``, or ``--runtime workerd``) in a
temporary data dir, submits one job, polls it every 50 ms and records:

- ``first chunk``: submit -> the first time ``progress.done >= 1`` is seen;
- ``chunks/s``: chunks after the first / the time from the first to the last chunk;
- ``assembly``: the last chunk seen -> ``completed`` (the multipart upload of the joined file);
- the audio's duration and size from its WAV header (read with a Range request: ``bytes=0-43``),
  checked against the object's size;
- peak RSS (``VmHWM``, reset through ``/proc/<pid>/clear_refs`` once the runtime is idle) of the
  process that synthesizes: the local runtime's one Python process (HTTP server, consumer, local
  R2 and SQLite all in it), or on workerd the ``workerd`` process, which holds all three Workers'
  isolates *and* Miniflare's R2 and Durable Objects: an upper bound on the consumer isolate's own
  memory, which no harness here can read apart (Pyodide's Wasm heap alone is measured by
  ``bench.longform_memory``).

Tone cases are 44.1 kHz 16-bit mono WAV (5,292 bytes a character) sized for 10, 100 and
500 MB of audio; ``espeak100k`` is 100,000 characters of English prose (local runtime only).
``--write`` replaces the ``<!-- longform:begin -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import loopback, sections
from bench import procstat
from bench.runtime_proc import BENCH_ENV
from tooling.dev_process import DevProcess

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("longform")
TONE_RATE = 44_100
TONE_BYTES_PER_CHAR = TONE_RATE * 60 // 1000 * 2
MB = 1_000_000
ENV = {**BENCH_ENV, "MAX_TEXT_CHARS": "400000", "MAX_JOBS_IN_FLIGHT": "0"}
PROSE = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness. The river ran quietly past the mill, and nobody on the bridge looked down at it. "
    "She counted the windows again, seven on the first floor and six above, and wrote the numbers down. "
)


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    chars: int
    sample_rate: int | None


CASES = {
    "espeak100k": Case("espeak100k", "espeak", 100_000, None),
    "tone10": Case("tone10", "tone", 10 * MB // TONE_BYTES_PER_CHAR, TONE_RATE),
    "tone100": Case("tone100", "tone", 100 * MB // TONE_BYTES_PER_CHAR, TONE_RATE),
    "tone500": Case("tone500", "tone", 500 * MB // TONE_BYTES_PER_CHAR, TONE_RATE),
}


def text_of(chars: int) -> str:
    return (PROSE * (chars // len(PROSE) + 1))[:chars]


class Runtime(DevProcess):
    """One runtime process (``kind``: local or workerd); logs to a file."""

    def __init__(self, kind: str, data_dir: Path) -> None:
        super().__init__(
            data_dir, dev_args=["--runtime", "workerd"] if kind == "workerd" else [], env={**os.environ, **ENV},
            cwd=ROOT, log_path=data_dir / "runtime.log",
        )
        self.kind = kind
        self.folder = data_dir

    def start(self, timeout: float = 300.0) -> Runtime:  # type: ignore[override]  # returns itself
        super().start(timeout)
        return self

    def measured_pids(self) -> list[int]:
        """The processes whose memory is the synthesizer's: the runtime's (and any it started), or workerd's."""
        assert self.process is not None
        if self.kind == "local":
            return procstat.tree(self.process.pid)
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
            except OSError:
                continue
            comm = text[text.index("(") + 1 : text.rindex(")")]
            pgid = int(text.rsplit(")", 1)[1].split()[2])
            if pgid == self.process.pid and comm.startswith("workerd"):
                pids.append(int(stat.parent.name))
        return pids

    def stop(self, grace: float = 30.0) -> None:
        super().stop(grace)


def call(port: int, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    return loopback.call(port, method, path, body, headers)


def run_case(kind: str, case: Case, work: Path) -> dict[str, Any]:
    runtime = Runtime(kind, work / f"{kind}-{case.name}").start()
    try:
        time.sleep(1.0)
        pids = runtime.measured_pids()
        idle = {pid: procstat.rss_mib(pid) for pid in pids}
        reset = all(procstat.reset_peak_rss(pid) for pid in pids)
        body: dict[str, Any] = {"text": text_of(case.chars), "model": case.model, "format": "wav"}
        if case.sample_rate:
            body["sampleRate"] = case.sample_rate
        t0 = time.monotonic()
        status, _, reply = call(runtime.port, "POST", "/v1/jobs", body)
        assert status == 202, reply[:500]
        job_id = json.loads(reply)["jobId"]
        first = last = None
        total = 0
        while True:
            job = json.loads(call(runtime.port, "GET", f"/v1/jobs/{job_id}")[2])
            now = time.monotonic()
            progress = job.get("progress") or {}
            done, total = int(progress.get("done", 0)), int(progress.get("total", 0) or total)
            if job["status"] in ("completed", "failed", "canceled"):
                break  # progress first seen here was not seen while the job ran
            if first is None and done >= 1:
                first = now
            if total and done >= total and last is None:
                last = now
            if now - t0 > 3600:
                raise RuntimeError(f"{case.name}: job did not finish in an hour")
            time.sleep(0.05)
        t_done = time.monotonic()
        assert job["status"] == "completed", job
        peaks = {pid: procstat.peak_rss_mib(pid) for pid in pids}
        _, headers, head = call(runtime.port, "GET", f"/v1/jobs/{job_id}/audio", headers={"Range": "bytes=0-43"})
        size = int(headers["content-range"].rsplit("/", 1)[1])
        riff, data = struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<I", head, 40)[0]
        byte_rate = struct.unpack_from("<I", head, 28)[0]
        chunks = total or 1
        seen = first is not None  # wrangler dev may hold status requests while the consumer runs
        first = first or t_done
        last = last or t_done
        return {
            "runtime": kind,
            "case": case.name,
            "model": case.model,
            "chars": case.chars,
            "chunks": chunks,
            "audioBytes": size,
            "headerConsistent": riff == size - 8 and data == size - 44,
            "durationSeconds": data / byte_rate,
            "wallSeconds": t_done - t0,
            "firstChunkSeconds": first - t0 if seen else None,
            "chunksPerSecond": (chunks - 1) / (last - first) if seen and chunks > 1 and last > first else None,
            "assemblySeconds": t_done - last if seen else None,
            "idleRssMiB": max(idle.values()),
            "peakRssMiB": max(peaks.values()),
            "peakReset": reset,
            "processes": len(pids),
        }
    finally:
        runtime.stop()
        shutil.rmtree(runtime.folder, ignore_errors=True)


def render(results: list[dict[str, Any]], command: str) -> str:
    rows = [
        "| runtime | case | chars | chunks | audio | duration | header = body | wall s | first chunk s | chunks/s | assembly s | peak RSS MiB (idle) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        cps = f"{r['chunksPerSecond']:.1f}" if r["chunksPerSecond"] else "-"
        if r["chunks"] == 1:
            first = "- (one request)"
        elif r["firstChunkSeconds"] is None:
            first = "not seen"
        else:
            first = f"{r['firstChunkSeconds']:.2f}"
        assembly = f"{r['assemblySeconds']:.1f}" if r["assemblySeconds"] is not None else "-"
        minutes = r["durationSeconds"] / 60
        rows.append(
            f"| {r['runtime']} | {r['model']} | {r['chars']:,} | {r['chunks']} | {r['audioBytes'] / MB:,.1f} MB | "
            f"{minutes:,.1f} min | {'yes' if r['headerConsistent'] else 'NO'} | {r['wallSeconds']:.1f} | "
            f"{first} | {cps} | {assembly} | {r['peakRssMiB']:.0f} ({r['idleRssMiB']:.0f}) |"
        )
    return "\n".join(
        [
            BEGIN,
            "## Long jobs: hours of audio in one job",
            "",
            f"Produced by `{command}` on {time.strftime('%Y-%m-%d', time.gmtime())} (2 shared cores). Each row is one "
            "job on a fresh runtime; method in `bench/longform.py`. Peak RSS on the local runtime is its whole "
            "Python process (server, consumer, local R2, SQLite); on workerd it is the `workerd` process, all "
            "three Workers plus Miniflare's R2 and Durable Objects together, so an upper bound on the consumer "
            "isolate (128 MB on Cloudflare), which no harness here can read apart: the Worker's own Python "
            "memory is the Pyodide table below. \"not seen\": under `wrangler dev` a status request waits "
            "while the consumer's isolate runs (they share workerd's thread), so no poll saw progress before "
            "the job completed; first chunk and chunks/s are the local runtime's.",
            "",
            *rows,
            "",
            END,
        ]
    )


def write_section(section: str, doc: Path = DOC) -> None:
    sections.write_section("longform", section, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.longform")
    parser.add_argument("--runtime", choices=["local", "workerd", "both"], default="local")
    parser.add_argument("--cases", default="espeak100k,tone10,tone100,tone500")
    parser.add_argument("--write", action="store_true", help="replace the section in docs/benchmarks.md")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    kinds = ["local", "workerd"] if args.runtime == "both" else [args.runtime]
    results = []
    with tempfile.TemporaryDirectory(prefix="tts-longform-") as tmp:
        for kind in kinds:
            for name in args.cases.split(","):
                case = CASES[name]
                if kind == "workerd" and case.model == "espeak":
                    continue  # no libespeak-ng in a Worker
                result = run_case(kind, case, Path(tmp))
                print(json.dumps(result), flush=True)
                results.append(result)
    command = "python -m bench.longform " + " ".join(a for a in (argv if argv is not None else sys.argv[1:]) if a != "--write")
    section = render(results, command.strip())
    print(section)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write:
        write_section(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
