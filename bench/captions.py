"""``python -m bench.captions``: what word timings cost, measured in-process.

Writes its section of docs/benchmarks.md (between the ``captions`` markers;
``python -m bench`` keeps it as it is):

- eSpeak with and without ``timestamps`` (its word events and the end
  measurement on the samples), the same text, median of several runs;
- the steps after synthesis for one long text (tone, exact timings):
  aligning to the text, the JSON document, grouping cues, rendering WebVTT;
- the sizes of the timings object and the captions per 1,000 characters.

    python -m bench.captions            # writes docs/benchmarks.md
    python -m bench.captions --smoke    # tiny sizes; prints the section, writes nothing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import sections
from shared.captions.cues import group_cues, render_vtt
from shared.captions.document import build_document, timed_words
from shared.words import align_to_text
from shared.ports import SynthesisRequest
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.tone import ToneSynthesizer

ROOT = Path(__file__).resolve().parent.parent

DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = sections.markers("captions")
SENTENCE = "The pipeline owns the text, the chunks and the audio, so it can hand back captions too. "


def _median_ms(run: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(espeak_chars: int, long_chars: int, repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d"), "repeat": repeat}
    if EspeakSynthesizer.available():
        text = (SENTENCE * (espeak_chars // len(SENTENCE) + 1))[:espeak_chars]
        synth = EspeakSynthesizer()

        def speak(timestamps: bool) -> None:
            asyncio.run(synth.synthesize(SynthesisRequest(text, "espeak", "en-us", "pcm", timestamps=timestamps)))

        speak(True)  # load the library once
        plain: list[float] = []
        timed: list[float] = []
        for _ in range(repeat):  # interleaved, so a busy moment of the machine hits both alike
            plain.append(_median_ms(lambda: speak(False), 1))
            timed.append(_median_ms(lambda: speak(True), 1))
        results["espeak"] = {"chars": len(text), "plain_ms": statistics.median(plain), "timed_ms": statistics.median(timed)}
    text = (SENTENCE * (long_chars // len(SENTENCE) + 1))[:long_chars].strip()
    result = asyncio.run(ToneSynthesizer().synthesize(SynthesisRequest(text, "tone", None, "pcm", 24000, timestamps=True)))
    assert result.words is not None
    duration = len(result.audio) / 2 / 24000
    aligned = align_to_text(result.words, text, duration=duration)
    doc = build_document("0" * 32, "tone", text, aligned, timings="exact", method="computed", duration=duration)
    body = json.dumps(doc.to_json_dict(), separators=(",", ":")).encode()
    cues = group_cues(timed_words(doc))
    vtt = render_vtt(cues, duration=duration).encode()
    results["long"] = {
        "chars": len(text),
        "words": len(aligned),
        "cues": len(cues),
        "align_ms": _median_ms(lambda: align_to_text(result.words or (), text, duration=duration), repeat),
        "document_ms": _median_ms(
            lambda: json.dumps(build_document("0" * 32, "tone", text, aligned, timings="exact", method="computed",
                                              duration=duration).to_json_dict()), repeat),
        "cues_vtt_ms": _median_ms(lambda: render_vtt(group_cues(timed_words(doc)), duration=duration), repeat),
        "json_bytes": len(body),
        "vtt_bytes": len(vtt),
    }
    return results


def section(r: dict[str, Any], command: str) -> str:
    lines = [
        BEGIN,
        "## Word timings and captions",
        "",
        f"`{command}` on {r['date']} (in-process, median of {r['repeat']} runs, eSpeak's two interleaved; this machine is shared, so read",
        "the ratios rather than the absolute times).",
        "",
    ]
    e = r.get("espeak")
    if e:
        extra = (e["timed_ms"] - e["plain_ms"]) / e["plain_ms"] * 100
        lines += [
            "| eSpeak, one request | characters | without timestamps (ms) | with (ms) | cost of the timings |",
            "| --- | ---: | ---: | ---: | ---: |",
            f"| word events + ends from the samples | {e['chars']:,} | {e['plain_ms']:,.0f} | {e['timed_ms']:,.0f} | {extra:+.1f} % |",
            "",
            "Measured once while building it: finding each word's end sample by sample in Python cost +53 % on the",
            "same 2,000 characters (the pause after a word is thousands of samples); stepping back 256 samples at a",
            "time (`max`/`min` of a slice, in C) and then sample by sample brought it to the figure above. eSpeak's own",
            "run-to-run spread is several percent, so small differences here are noise.",
            "",
        ]
    g = r["long"]
    lines += [
        f"After synthesis, for one text of {g['chars']:,} characters ({g['words']:,} words, {g['cues']:,} cues;"
        " tone's exact timings):",
        "",
        "| step | ms |",
        "| --- | ---: |",
        f"| align the engine's words to the text | {g['align_ms']:,.1f} |",
        f"| the timings document, as JSON | {g['document_ms']:,.1f} |",
        f"| group cues and render WebVTT (each `/captions.vtt` request) | {g['cues_vtt_ms']:,.1f} |",
        "",
        f"Sizes: the timings object is {g['json_bytes']:,} bytes ({g['json_bytes'] / g['chars'] * 1000:,.0f} per 1,000"
        f" characters of text), the WebVTT {g['vtt_bytes']:,} bytes.",
        END,
    ]
    return "\n".join(lines)


def write_section(text: str, doc: Path = DOC) -> None:
    sections.write_section("captions", text, doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--espeak-chars", type=int, default=2000)
    parser.add_argument("--long-chars", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes; print the section, write nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        args.espeak_chars, args.long_chars, args.repeat = 100, 500, 1
    import shlex
    import sys

    shown = list(sys.argv[1:] if argv is None else argv)
    command = "python -m bench.captions" + (f" {shlex.join(shown)}" if shown else "")
    text = section(measure(args.espeak_chars, args.long_chars, args.repeat), command)
    if args.smoke:
        print(text)
    else:
        write_section(text)
        print(f"wrote the captions section of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
