"""Memory of a job's audio inside a Python Worker (real Pyodide 314 under Node), for MAX_AUDIO_BYTES.

Run: ``python -m bench.longform_memory [--mb 32]``. Each case runs in a fresh
Node + Pyodide (Wasm memory never shrinks, so cases must not share one) with
the synth_consumer Worker's imports loaded, and reports:

- ``wasm``: the Worker's Wasm heap (Python's memory), as the harness reads it;
- ``js_buffers``: bytes in JS ArrayBuffers (where the copy on its way to R2 lives).

Cases: ``single`` synthesizes one tone WAV of the given size in one request
(what a short job does) and copies it to a JS Uint8Array as ``R2BlobStore.put``
does; ``chunked`` builds the same size from 2 MB parts produced one at a time,
joined with ``JoinBuffer`` (what ``shared.synthesis.longform`` does, minus R2),
then copies it to JS. Cloudflare counts both heaps against the 128 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/pyodide"))

from pyodide_harness import Harness, worker_spec  # noqa: E402

BYTES_PER_CHAR = 2880  # tone: 60 ms of 24 kHz 16-bit mono per character

SINGLE = """
from shared.synthesis.tone import ToneSynthesizer
from shared.ports import SynthesisRequest
from cloudflare_adapters.convert import bytes_to_js
import builtins
r = await ToneSynthesizer().synthesize(SynthesisRequest("abcdefghij" * {tens}, "tone", None, "wav"))
builtins._keep = (r, bytes_to_js(r.audio))
len(r.audio)
"""

CHUNKED = """
from shared.synthesis.tone import ToneSynthesizer
from shared.synthesis.audio import AudioKind, JoinBuffer, part_layout
from shared.ports import SynthesisRequest
from cloudflare_adapters.convert import bytes_to_js
import builtins, gc
tone = ToneSynthesizer()
kind = AudioKind("wav", 24000)
texts = ["abcdefghij" * {part_tens}] * {parts}
layouts = []
for t in texts:  # measure each part as longform does when it stores it, then let it go
    audio = (await tone.synthesize(SynthesisRequest(t, "tone", None, "wav"))).audio
    layouts.append(part_layout(kind, audio))
    del audio
gc.collect()
joiner = JoinBuffer(kind, layouts)
for t in texts:  # read back one at a time (from R2 in longform)
    audio = (await tone.synthesize(SynthesisRequest(t, "tone", None, "wav"))).audio
    joiner.add(audio)
    del audio
result = joiner.result()
builtins._keep = (result, bytes_to_js(result))
len(result)
"""

JS_MEMORY = "from js import process\nu = process.memoryUsage()\n{'arrayBuffers': u.arrayBuffers, 'heapUsed': u.heapUsed}"


def _node() -> str:
    done = subprocess.run(["bash", str(REPO / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def run_case(case: str, megabytes: float, log: Path) -> dict[str, float]:
    harness = Harness(_node(), log)
    try:
        harness.add_workers({"synth_consumer": worker_spec(REPO / "workers/synth_consumer", script_names={"tts-api": "api"})})
        harness.call("start", worker="synth_consumer")
        base_wasm = harness.call("memory")["synth_consumer"]
        base_js = harness.run_python("synth_consumer", JS_MEMORY)
        chars = int(megabytes * 1_000_000 / BYTES_PER_CHAR) // 10 * 10
        if case == "single":
            code = SINGLE.format(tens=chars // 10)
        else:
            parts = max(1, round(megabytes / 2))
            code = CHUNKED.format(part_tens=chars // 10 // parts, parts=parts)
        size = harness.run_python("synth_consumer", code)
        wasm = harness.call("memory")["synth_consumer"]
        js = harness.run_python("synth_consumer", JS_MEMORY)
        return {
            "audio_mb": size / 1e6,
            "wasm_start_mb": base_wasm / 1e6,
            "wasm_peak_mb": wasm / 1e6,
            "js_buffers_added_mb": (js["arrayBuffers"] - base_js["arrayBuffers"]) / 1e6,
        }
    finally:
        harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=32.0, help="audio size of the job, MB")
    args = parser.parse_args()
    log = Path("/tmp/longform_memory_harness.log")
    for case in ("single", "chunked"):
        print(json.dumps({"case": case, **{k: round(v, 1) for k, v in run_case(case, args.mb, log).items()}}), flush=True)


if __name__ == "__main__":
    main()
