"""``python -m bench.openai_parity``: what OpenAI speech parity costs and how soon audio comes, on the local runtime.

1. ``stream_format: "sse"`` on ``POST /v1/audio/speech``: time to the first
   ``speech.audio.delta`` and to ``speech.audio.done``, for a 2,000-character
   espeak request (one provider request) and for a long espeak job (chunks of
   2,000 characters: the first delta is the first stored chunk), beside the
   same request without SSE (the whole audio in the answer);
2. the encoders of the offline models' formats: CPU seconds per second of
   espeak speech for each (``mp3`` through lameenc and, for the record,
   through PyAV's LAME; ``opus``, ``aac``, ``flac`` through PyAV), and the cost
   of importing PyAV;
3. ``speed`` on espeak: the duration at each speed over the duration at 1.0.

Writes its section of docs/benchmarks.md between the ``openai`` markers. One
run on this machine (2 shared cores), not an assertion.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loopback, sections
from bench.runtime_proc import RuntimeProcess

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("openai")
ENV = {"DEFAULT_MODEL": "espeak", "JOB_RATE_LIMIT": "0", "MAX_JOBS_IN_FLIGHT": "0", "CRON_INTERVAL_SECONDS": "0"}
SENTENCE = "The quick brown fox jumps over the lazy dog, then it runs far away into the forest. "


def text_of(chars: int) -> str:
    return (SENTENCE * (chars // len(SENTENCE) + 1))[:chars].rsplit(" ", 1)[0] + "."


def speech(port: int, text: str, sse: bool, fmt: str = "mp3") -> dict[str, float]:
    """Seconds to the first audio byte (SSE: the first delta) and to the end of the answer."""
    body = {"model": "espeak", "voice": "alloy", "input": text, "response_format": fmt}
    if sse:
        body["stream_format"] = "sse"
    first = 0.0
    with loopback.client(port, timeout=600) as client:
        start = time.perf_counter()
        with client.stream("POST", "/v1/audio/speech", json=body) as response:
            assert response.status_code == 200, response.read()[:300]
            if sse:
                for line in response.iter_lines():
                    if not first and line.startswith('data: {"type":"speech.audio.delta"'):
                        first = time.perf_counter() - start
                    if line.startswith('data: {"type":"speech.audio.done"'):
                        break
            else:
                for _ in response.iter_raw():
                    first = first or time.perf_counter() - start
        total = time.perf_counter() - start
    return {"first": first, "total": total}


def latencies(port: int, runs: int) -> list[dict[str, Any]]:
    rows = []
    speech(port, text_of(200), False)  # warm: the first request of each process loads its code
    speech(port, text_of(200), True)
    for label, chars in (("2,000 characters (1 request)", 2000), ("10,000 characters (5 chunks)", 10_000)):
        text = text_of(chars)
        samples: dict[bool, list[dict[str, float]]] = {False: [], True: []}
        for _ in range(runs):  # alternating, so that the machine's other load falls on both alike
            for sse in (False, True):
                samples[sse].append(speech(port, text, sse))
        for sse in (False, True):
            rows.append({
                "text": label, "way": "sse" if sse else "audio",
                "first": statistics.median(s["first"] for s in samples[sse]),
                "total": statistics.median(s["total"] for s in samples[sse]),
            })
    return rows


ENCODERS = r"""
import json, time, sys
t = time.perf_counter(); import av; import_s = time.perf_counter() - t
from local_runtime.audio_encoders import AvFormatEncoder
from local_runtime.mp3_encoder import load_mp3_encoder
from shared.synthesis.espeak import EspeakSynthesizer
pcm, rate = EspeakSynthesizer().synthesize_pcm_blocking((%r * 12).encode(), "en-us")
seconds = len(pcm) / 2 / rate
out = {"import_s": import_s, "seconds": seconds, "rate": rate, "formats": {}}
def av_mp3(pcm, rate):
    import io
    sink = io.BytesIO()
    c = av.open(sink, mode="w", format="mp3", options={"write_xing": "0", "id3v2_version": "0"})
    st = c.add_stream("libmp3lame", rate=rate, layout="mono", options={"compression_level": "2"}); st.bit_rate = 64000
    fr = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2); fr.planes[0].update(pcm); fr.sample_rate = rate; fr.pts = 0
    for p in st.encode(fr): c.mux(p)
    for p in st.encode(None): c.mux(p)
    c.close(); return sink.getvalue()
encoders = [("mp3 (lameenc, used)", load_mp3_encoder().encode), ("mp3 (PyAV's LAME, same quality)", av_mp3)]
encoders += [(f"{f} (PyAV)", AvFormatEncoder(f).encode) for f in ("opus", "aac", "flac")]
for name, encode in encoders:
    best = None
    for _ in range(3):
        t = time.process_time(); data = encode(pcm, rate); cpu = time.process_time() - t
        best = cpu if best is None else min(best, cpu)
    out["formats"][name] = {"cpu_per_audio_s": best / seconds, "kbit_s": len(data) * 8 / seconds / 1000}
speeds = {}
base = None
for speed in (1.0, 0.25, 0.5, 2.0, 4.0):
    p, r = EspeakSynthesizer().synthesize_pcm_blocking((%r * 2).encode(), "en-us", speed=speed)
    base = base or len(p)
    speeds[speed] = len(p) / base
out["speeds"] = speeds
print(json.dumps(out))
""" % (SENTENCE, SENTENCE)


def encoders() -> dict[str, Any]:
    # A fresh interpreter: PyAV's import cost is a cold one.
    done = subprocess.run([sys.executable, "-c", ENCODERS], capture_output=True, text=True, check=True, cwd=ROOT)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def section(rows: list[dict[str, Any]], enc: dict[str, Any], runs: int, command: str) -> str:
    lines = [
        BEGIN,
        "## OpenAI speech parity: SSE latency, encoders, speed",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d')} ({platform.python_implementation()}"
        f" {platform.python_version()}, 2 shared cores), local runtime, espeak, mp3. Median of {runs} requests"
        " (audio and sse alternating) after a warm-up; the machine was shared, so read the columns side by side. `audio`: the plain answer, first byte = whole job done;"
        " `sse`: `stream_format: \"sse\"`, first byte = the first `speech.audio.delta` (for the long job, the"
        " first stored chunk).",
        "",
        "| input | answer | first audio s | whole answer s |",
        "| --- | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['text']} | {r['way']} | {r['first']:.2f} | {r['total']:.2f} |")
    lines += [
        "",
        f"Encoders, on {enc['seconds']:.0f} s of espeak speech at {enc['rate']} Hz (best of 3, CPU seconds per"
        f" second of audio; a cold `import av` took {enc['import_s'] * 1000:.0f} ms, paid once per process on"
        " the first opus, aac or flac request):",
        "",
        "| encoder | CPU s per audio s | kbit/s |",
        "| --- | ---: | ---: |",
    ]
    for name, f in enc["formats"].items():
        lines.append(f"| {name} | {f['cpu_per_audio_s']:.4f} | {f['kbit_s']:.0f} |")
    lines += [
        "",
        "MP3 stays with lameenc: PyAV's wheels carry LAME too and give the same bytes, at several times the CPU.",
        "",
        "espeak `speed` (duration at 1.0 over duration at the speed; ideal = the speed): "
        + ", ".join(f"{float(s):g}: {1 / ratio:.2f}" for s, ratio in enc["speeds"].items()),
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.openai_parity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc = RuntimeProcess(Path(tmp), ENV).start()
        try:
            rows = latencies(proc.port, args.runs)
        finally:
            proc.stop()
    text = section(rows, encoders(), args.runs, "python -m bench.openai_parity" + (f" --runs {args.runs}" if args.runs != 3 else ""))
    if args.no_write:
        print(text)
    else:
        sections.write_section("openai", text, DOC)
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
