"""Memory of a long job's audio inside a Python Worker (real Pyodide 314 under Node), as the audio grows.

Run: ``python -m bench.longform_memory [--mb 10,100,500]``. Each case runs in a
fresh Node + Pyodide (Wasm memory never shrinks, so cases must not share one)
with the synth_consumer Worker's imports loaded and its R2 binding on
Miniflare's R2 (the harness's bridge, multipart included), and reports the
Worker's Wasm heap (Python's memory, what the harness reads; Cloudflare counts
it in the 128 MB):

- ``start``: after the imports;
- ``chunks``: after synthesizing the job's chunks with ``tone`` (2,000
  characters, 5.76 MB of 24 kHz WAV each) and putting each into R2 through
  ``R2BlobStore``, one at a time, as ``shared.synthesis.longform`` does;
- ``assembled``: after ``shared.synthesis.assembly.assemble`` streamed them
  into one object by multipart upload (8 MiB parts) through the same adapter.

``js_buffers``: bytes in the Node process's ArrayBuffers added meanwhile, a
hint at JS-side copies (it is the whole harness process, GC-timed), not the
Worker's own figure.
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

CHUNKS = """
import _pyodide_harness, builtins, gc
from cloudflare_adapters.r2 import R2BlobStore
from shared.ports import SynthesisRequest
from shared.synthesis.assembly import Chunk
from shared.audio.kinds import AudioKind, part_layout
from shared.synthesis.tone import ToneSynthesizer
bucket = R2BlobStore(_pyodide_harness.env().TTS_AUDIO_BUCKET)
tone = ToneSynthesizer()
kind = AudioKind("wav", 24000)
chunks, layouts = [], []
for i in range({count}):
    audio = (await tone.synthesize(SynthesisRequest("abcdefghij" * 200, "tone", None, "wav"))).audio
    info = await bucket.put(f"tmp/{job}/{plan}/{{i:05d}}", audio, content_type="audio/wav", custom_metadata={{}})
    chunks.append(Chunk(info.key, info.etag))
    layouts.append(part_layout(kind, audio))
    del audio, info
gc.collect()
builtins._longform = (bucket, kind, chunks, layouts)
len(chunks)
"""

ASSEMBLE = """
import builtins, gc, io
from shared.logs import JsonLogger
from shared.synthesis.assembly import assemble
from shared.audio.kinds import join_layout
bucket, kind, chunks, layouts = builtins._longform
layout = join_layout(kind, layouts)
async def ours():
    return None
info = await assemble(
    bucket, job_id="{job}", plan="{plan}", key="audio/2026/12/02/{job}.wav", layout=layout, chunks=chunks,
    content_type="audio/wav", metadata={{}}, record_metadata={{"jobId": "{job}"}}, still_ours=ours,
    log=JsonLogger("bench", io.StringIO()),
)
gc.collect()
head = await bucket.head(info.key)
[info.size, layout.size, head.size if head else None]
"""

JS_MEMORY = "from js import process\nu = process.memoryUsage()\n{'arrayBuffers': u.arrayBuffers, 'heapUsed': u.heapUsed}"

JOB, PLAN = "d" * 32, "0" * 16
CHUNK_BYTES = 2000 * BYTES_PER_CHAR


def _node() -> str:
    done = subprocess.run(["bash", str(REPO / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def run_case(megabytes: float, log: Path) -> dict[str, float]:
    harness = Harness(_node(), log, timeout=1800.0)
    try:
        harness.add_workers({"synth_consumer": worker_spec(REPO / "workers/synth_consumer", script_names={"tts-api": "api"})})
        harness.call("start", worker="synth_consumer")
        start = harness.call("memory")["synth_consumer"]
        base_js = harness.run_python("synth_consumer", JS_MEMORY)
        count = max(1, round(megabytes * 1_000_000 / CHUNK_BYTES))
        harness.run_python("synth_consumer", CHUNKS.format(count=count, job=JOB, plan=PLAN))
        after_chunks = harness.call("memory")["synth_consumer"]
        size, expected, stored = harness.run_python("synth_consumer", ASSEMBLE.format(job=JOB, plan=PLAN))
        assembled = harness.call("memory")["synth_consumer"]
        js = harness.run_python("synth_consumer", JS_MEMORY)
        assert size == expected == stored, (size, expected, stored)
        return {
            "audio_mb": size / 1e6,
            "chunks": count,
            "wasm_start_mb": start / 1e6,
            "wasm_after_chunks_mb": after_chunks / 1e6,
            "wasm_after_assembly_mb": assembled / 1e6,
            "js_buffers_added_mb": (js["arrayBuffers"] - base_js["arrayBuffers"]) / 1e6,
        }
    finally:
        harness.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", default="10,100,500", help="audio sizes of the job, MB, comma separated")
    args = parser.parse_args()
    log = Path("/tmp/longform_memory_harness.log")
    for mb in (float(x) for x in args.mb.split(",")):
        print(json.dumps({k: round(v, 1) for k, v in run_case(mb, log).items()}), flush=True)


if __name__ == "__main__":
    main()
