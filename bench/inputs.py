"""What several inputs in one job cost: the same text as one ``text`` or as K ``inputs`` (two voices in turn).

Run: ``python -m bench.inputs [--chars 20000] [--inputs 3,100,1000] [--smoke] [--write]``.

One local runtime (``tts-pipeline dev``, tone, WAV at 24 kHz, ``gapMs`` 300 for the inputs) in a fresh data
dir; per variant, the same characters of text: ``text`` (cut into chunks of ``MAX_INPUT_CHARS``) or split
into K inputs of about equal length. Measured per variant: submit -> ``completed`` (polled every 20 ms),
the provider requests (``progress.total``: one per chunk; an input is at least one), the audio's size,
the timings object's size (the chapters) and the time of ``GET /v1/jobs/{id}/audio?input=N`` for the
middle input. ``--write`` replaces the ``<!-- inputs:begin -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loopback, sections
from bench.runtime_proc import ROOT, RuntimeProcess

DOC = ROOT / "docs" / "benchmarks.md"
SENTENCE = "Line {} of a text read as one job or as many inputs, with two voices. "
CHUNK_CHARS = 2000
GAP_MS = 300


def _call(port: int, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    status, _, data = loopback.call(port, method, path, body, timeout=900)
    return status, data


def _text(chars: int) -> str:
    out, n = "", 0
    while len(out) < chars:
        out += SENTENCE.format(n)
        n += 1
    return out[:chars].strip()


def _pieces(text: str, count: int) -> list[str]:
    size = max(1, len(text) // count)
    pieces = [text[i * size : (i + 1) * size if i < count - 1 else len(text)].strip() for i in range(count)]
    return [p or "." for p in pieces]


def run_variant(port: int, text: str, inputs: int) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "tone", "format": "wav", "sampleRate": 24000}
    if inputs:
        body["inputs"] = [{"text": p, "voiceId": ("low", "high")[i % 2]} for i, p in enumerate(_pieces(text, inputs))]
        body["gapMs"] = GAP_MS
    else:
        body["text"] = text
    started = time.perf_counter()
    status, raw = _call(port, "POST", "/v1/jobs", body)
    if status != 202:
        raise RuntimeError(f"submit answered {status}: {raw[:300]!r}")
    job_id = json.loads(raw)["jobId"]
    while True:
        job = json.loads(_call(port, "GET", f"/v1/jobs/{job_id}")[1])
        if job["status"] in ("completed", "failed", "canceled"):
            break
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if job["status"] != "completed":
        raise RuntimeError(f"job {job['status']}: {job.get('error')}")
    out = {
        "inputs": inputs, "seconds": seconds, "requests": (job.get("progress") or {}).get("total", 1),
        "audio_bytes": job["sizeBytes"],
    }
    if inputs:
        _, timings = _call(port, "GET", f"/v1/jobs/{job_id}/timestamps")
        began = time.perf_counter()
        status, part = _call(port, "GET", f"/v1/jobs/{job_id}/audio?input={inputs // 2}")
        out.update(timings_bytes=len(timings), input_ms=(time.perf_counter() - began) * 1000, input_bytes=len(part))
    return out


def measure(chars: int, counts: list[int]) -> dict[str, Any]:
    text = _text(chars)
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "chars": len(text), "variants": []}
    with tempfile.TemporaryDirectory() as tmp:
        env = {"MAX_TEXT_CHARS": str(max(chars, 100_000)), "MAX_INPUT_CHARS": str(CHUNK_CHARS)}
        with RuntimeProcess(Path(tmp) / "data", env=env) as runtime:
            run_variant(runtime.port, "Warm up.", 0)
            for count in [0, *counts]:
                results["variants"].append(run_variant(runtime.port, text, count))
    return results


def section(r: dict[str, Any], command: str) -> str:
    lines = [
        sections.markers("inputs")[0],
        "## Several inputs in one job",
        "",
        f"`{command}` on {r['date']}: the same {r['chars']:,} characters of text (tone, WAV at 24 kHz, chunks of"
        f" {CHUNK_CHARS:,} characters) as one `text` or as K `inputs` of about equal length, two voices in turn,"
        f" {GAP_MS} ms between them; one local runtime, submit -> completed polled every 20 ms. This machine is"
        " shared (2 cores): read the ratios.",
        "",
        "| submitted as | provider requests | submit -> completed (s) | audio (MB) | timings object (bytes) |"
        " `?input=` of the middle input (ms) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v in r["variants"]:
        name = f"{v['inputs']:,} inputs" if v["inputs"] else "one `text`"
        timings = f"{v['timings_bytes']:,}" if v["inputs"] else "none asked"
        part = f"{v['input_ms']:,.1f} ({v['input_bytes']:,} bytes)" if v["inputs"] else "n/a"
        lines.append(
            f"| {name} | {v['requests']:,} | {v['seconds']:,.2f} | {v['audio_bytes'] / 1e6:,.1f} | {timings} | {part} |"
        )
    lines += [
        "",
        "An input is at least one provider request (its own chunk, in its own voice), so many short inputs cost",
        "requests and queue messages (chunk tasks) where one text of the same length needs few; the audio grows by",
        "the gaps only. The chapters are computed from the chunks' stored spans when the file is assembled (no",
        "audio is read again); `?input=N` reads the timings object, the WAV header and the input's bytes.",
        sections.markers("inputs")[1],
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=20_000)
    parser.add_argument("--inputs", type=lambda t: [int(x) for x in t.split(",") if x], default=[3, 100, 1000])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; print the section, write nothing")
    parser.add_argument("--write", action="store_true", help="replace the section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.smoke:
        args.chars, args.inputs = 600, [3]
    import shlex
    import sys

    shown = list(sys.argv[1:] if argv is None else argv)
    command = "python -m bench.inputs" + (f" {shlex.join(shown)}" if shown else "")
    text = section(measure(args.chars, args.inputs), command)
    print(text)
    if args.write and not args.smoke:
        sections.write_section("inputs", text, DOC)
        print(f"wrote the inputs section of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
