"""``python -m bench.neural``: the local neural model (Piper, packaged voice) measured, into docs/benchmarks.md.

    python -m bench.neural            # measure and rewrite the "neural" section of docs/benchmarks.md
    python -m bench.neural --no-write # print it only

Measured in this process, after one warm-up run, for a 200- and a 2,000-character English text:

- real-time factor: synthesis wall time / seconds of audio (median of ``--runs``); below 1 is faster
  than it speaks, and the goal is at most 0.5 for 200 characters;
- first-audio latency: from the call to the first sentence's audio (Piper yields one per sentence);
- whole request: what one job of that text waits for (``PiperSynthesizer.synthesize``, off the loop);
- eSpeak NG on the same texts, for scale.

Memory: this process's RSS before and after loading the voice; then ``tts-pipeline dev`` is
started, one 2,000-character job runs with the default model, and the runtime process's RSS and
peak RSS are read from /proc. Cost per million characters of the Workers AI default and the
other providers comes from their published prices (not measured).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import sections
from tooling.dev_process import DevProcess
from bench.procstat import peak_rss_mib, rss_mib

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("neural")
SENTENCES = [
    "The harbor was quiet when the first boats went out, and the gulls followed them past the breakwater.",
    "By noon the wind had turned, so the fishermen came back early with half a catch and a long story.",
    "Nobody in the village minded; there would be better weather tomorrow, and the nets needed mending anyway.",
    "Children ran along the pier while their parents sorted the fish and argued about the price of diesel.",
]


def text_of(chars: int) -> str:
    out = ""
    i = 0
    while len(out) < chars:
        out += ("" if not out else " ") + SENTENCES[i % len(SENTENCES)]
        i += 1
    cut = out[:chars]
    return cut[: cut.rfind(" ")] + "." if len(out) > chars else cut


def measure_model(runs: int) -> dict[str, Any]:
    from shared.ports import SynthesisRequest
    from shared.synthesis.espeak import EspeakSynthesizer
    from shared.synthesis.piper import PiperSynthesizer, _load

    before = rss_mib(os.getpid())
    load_before = os.getloadavg()[0]
    synth = PiperSynthesizer.from_folder(None)
    if synth is None:
        raise SystemExit("piper-tts or the packaged voice is not installed")
    files = synth.voices[synth.default_voice]
    started = time.perf_counter()
    voice = _load(files, 2)
    load_seconds = time.perf_counter() - started
    loaded = rss_mib(os.getpid())
    espeak = EspeakSynthesizer() if EspeakSynthesizer.available() else None
    out: dict[str, Any] = {
        "voice": files.name, "load_seconds": load_seconds, "rss_before_mib": before, "rss_loaded_mib": loaded,
        "model_mib": files.model_bytes / 2**20, "texts": {},
    }
    asyncio.run(synth.synthesize(SynthesisRequest(text_of(200), "piper", None, "pcm")))  # warm-up
    for chars in (200, 2000):
        text = text_of(chars)
        rtfs, firsts, wholes = [], [], []
        for _ in range(runs):
            started = time.perf_counter()
            first = None
            samples = 0
            for chunk in voice.synthesize(text):
                if first is None:
                    first = time.perf_counter() - started
                samples += len(chunk.audio_float_array)
            elapsed = time.perf_counter() - started
            rtfs.append(elapsed / (samples / voice.config.sample_rate))
            firsts.append(first or elapsed)
            started = time.perf_counter()
            result = asyncio.run(synth.synthesize(SynthesisRequest(text, "piper", None, "pcm", timestamps=True)))
            wholes.append((time.perf_counter() - started, len(result.audio) / 2 / 22050))
        row: dict[str, Any] = {
            "chars": len(text), "rtf": statistics.median(rtfs), "rtf_max": max(rtfs),
            "first_audio": statistics.median(firsts), "whole": statistics.median(w[0] for w in wholes),
            "audio_seconds": statistics.median(w[1] for w in wholes),
        }
        if espeak is not None:
            started = time.perf_counter()
            pcm = asyncio.run(espeak.synthesize(SynthesisRequest(text, "espeak", None, "pcm"))).audio
            row["espeak_rtf"] = (time.perf_counter() - started) / (len(pcm) / 2 / 22050)
        out["texts"][chars] = row
    out["rss_after_mib"] = rss_mib(os.getpid())
    out["peak_rss_mib"] = peak_rss_mib(os.getpid())
    out["load_before"], out["load_after"] = load_before, os.getloadavg()[0]
    out["threads_rtf"] = threads_rtf(files, text_of(200), runs)  # two more sessions: after the memory readings
    return out


def threads_rtf(files: Any, text: str, runs: int) -> dict[str, float]:
    """RTF of ``text`` with one thread a run (the default) and with ONNX Runtime's own choice (one a core)."""
    import onnxruntime
    from piper import PiperVoice

    from shared.synthesis.piper import _load
    from shared.synthesis.piper_voices import with_alignment_output

    config = _load(files, 2).config
    out: dict[str, float] = {}
    for threads in (1, 0):
        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model, _ = with_alignment_output(files.model.read_bytes())
        voice = PiperVoice(session=onnxruntime.InferenceSession(model, sess_options=options), config=config)
        list(voice.synthesize(text))
        rtfs = []
        for _ in range(runs):
            started = time.perf_counter()
            samples = sum(len(c.audio_float_array) for c in voice.synthesize(text))
            rtfs.append((time.perf_counter() - started) / (samples / config.sample_rate))
        out[str(threads or os.cpu_count())] = statistics.median(rtfs)
    return out


def measure_consumer() -> dict[str, Any]:
    """RSS of the ``tts-pipeline dev`` process before and after a Piper job."""
    with tempfile.TemporaryDirectory() as data:
        runtime = DevProcess(Path(data), env={**os.environ, "DEFAULT_MODEL": "", "CRON_INTERVAL_SECONDS": "0"})
        try:
            url, consumer = runtime.start(60)["url"], runtime.pid
            idle = rss_mib(consumer)

            def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
                reply = httpx.request(method, url + path, json=body, timeout=30, trust_env=False)
                reply.raise_for_status()
                answer: dict[str, Any] = reply.json()
                return answer

            job = call("POST", "/v1/jobs", {"text": text_of(2000)})
            submitted = time.monotonic()
            while call("GET", f"/v1/jobs/{job['jobId']}")["status"] not in ("completed", "failed"):
                time.sleep(0.05)
            seconds = time.monotonic() - submitted
            return {"model": job["model"], "idle_mib": idle, "loaded_mib": rss_mib(consumer),
                    "peak_mib": peak_rss_mib(consumer), "job_seconds": seconds}
        finally:
            runtime.stop(grace=30)


# Published prices (USD) and how they bill, for cost per million characters of English (~13 characters a
# second of speech, so 1M characters is about 21 hours, 1,280 minutes).
MINUTES_PER_MILLION_CHARS = 1_000_000 / 13 / 60
COSTS = [
    ("`@cf/myshell-ai/melotts` (Workers AI, the Cloudflare default)", "$0.0002 per audio minute",
     0.0002 * MINUTES_PER_MILLION_CHARS),
    ("`@cf/deepgram/aura-1` (Workers AI)", "$0.015 per 1k characters", 15.0),
    ("`@cf/deepgram/aura-2-en` (Workers AI)", "$0.030 per 1k characters", 30.0),
    ("`openai/tts-1` (OpenAI)", "$15 per 1M characters", 15.0),
    ("`openai/gpt-4o-mini-tts` (OpenAI)", "about $0.015 per audio minute", 0.015 * MINUTES_PER_MILLION_CHARS),
    ("ElevenLabs (API, Flash/Turbo)", "about $0.05 per 1k characters (plan-dependent)", 50.0),
    ("`piper` (local, this machine)", "CPU time only", 0.0),
]


def render(model: dict[str, Any], consumer: dict[str, Any] | None, command: str) -> str:
    rows = []
    for chars, r in model["texts"].items():
        espeak = f"{r['espeak_rtf']:.3f}" if "espeak_rtf" in r else "n/a"
        rows.append(
            f"| {r['chars']:,} | {r['audio_seconds']:.1f} s | **{r['rtf']:.2f}** (max {r['rtf_max']:.2f}) | "
            f"{r['first_audio'] * 1000:.0f} ms | {r['whole']:.2f} s | {espeak} |"
        )
    lines = [
        BEGIN,
        "## The local neural model (Piper)",
        "",
        f"Written by `{command}` on {time.strftime('%Y-%m-%d')} ({os.cpu_count()} cores, shared with other work: "
        f"load average {model['load_before']:.1f} before the runs, {model['load_after']:.1f} after). "
        f"Voice `{model['voice']}` (the packaged one, {model['model_mib']:.0f} MB of ONNX), loaded in "
        f"{model['load_seconds']:.1f} s; each number after one warm-up run, median of the runs.",
        "",
        "| characters | audio | real-time factor | first audio | whole request (job) | eSpeak NG RTF |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "Real-time factor: synthesis wall time over the audio's length (0.5: a minute of speech in 30 s). "
        "First audio: until Piper's first sentence is out (what a streaming reader would wait for); the job "
        "itself stores a request's audio whole, so a job of one request waits the last column (with word "
        "timings, which cost nothing extra: they are the model's own phoneme durations).",
        "",
        "Threads a run (`LOCAL_VOICE_THREADS`), 200 characters: "
        + ", ".join(f"{n} thread{'s' if n != '1' else ''}: RTF {r:.2f}" for n, r in model["threads_rtf"].items())
        + " (the table above uses the default, 1; a busy machine favours one thread, a quiet one two).",
        "",
        f"Memory: this process went from {model['rss_before_mib']:.0f} MiB to {model['rss_loaded_mib']:.0f} MiB "
        f"RSS with the voice loaded, {model['rss_after_mib']:.0f} MiB after the runs (peak {model['peak_rss_mib']:.0f} MiB; "
        "ONNX Runtime keeps the buffers of the longest sentence it has run).",
    ]
    if consumer is not None:
        lines += [
            "",
            f"`tts-pipeline dev` (one process: api, consumer, reaper): {consumer['idle_mib']:.0f} MiB idle, "
            f"{consumer['loaded_mib']:.0f} MiB after one 2,000-character `{consumer['model']}` job with the voice "
            f"loaded (peak {consumer['peak_mib']:.0f} MiB); the job took {consumer['job_seconds']:.1f} s from submit "
            "to completed, the model's first load included.",
        ]
    lines += [
        "",
        "Cost per million characters (published prices, not measured; minutes of audio at 13 characters a "
        f"second, {MINUTES_PER_MILLION_CHARS:,.0f} minutes per million characters):",
        "",
        "| model | price | per 1M characters |",
        "| --- | --- | ---: |",
        *[f"| {name} | {price} | ${cost:,.2f} |" for name, price, cost in COSTS],
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.neural", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per text after the warm-up")
    parser.add_argument("--no-consumer", action="store_true", help="skip the consumer-process measurement")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing it")
    args = parser.parse_args(argv)
    model = measure_model(args.runs)
    print(json.dumps(model, indent=1), file=sys.stderr)
    consumer = None if args.no_consumer else measure_consumer()
    command = "python -m bench.neural" + (f" --runs {args.runs}" if args.runs != 3 else "")
    text = render(model, consumer, command)
    if args.no_write:
        print(text)
    else:
        sections.write_section("neural", text, DOC)
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
