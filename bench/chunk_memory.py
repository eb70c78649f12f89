"""Memory of each model's largest chunk inside the synth_consumer Worker (real Pyodide 314 under Node).

Run: ``python -m bench.chunk_memory [--write]``. For every model of the
deployed catalogue, the largest chunk it may produce is its chunk size
(``max_input_chars`` after ``shared.synthesis.budget.fitting_chunk_chars``)
times its worst bytes per character (``chunk_audio_bytes`` / 3 copies). Each
case runs in a fresh Node + Pyodide (Wasm memory never shrinks) with the
synth_consumer Worker's imports loaded and its R2 binding on Miniflare, and
takes the chunk's path through our adapters: a JS ``ArrayBuffer`` of that
size (the provider's response body) turned into Python bytes by
``array_buffer_to_bytes`` (``cloudflare_adapters/fetch.py``'s path), then put
into R2 by ``R2BlobStore`` (Python -> JS). Reported: the Worker's Wasm heap
after the imports and after the chunk, against the 128 MB an isolate has.
``--write`` replaces the ``<!-- chunk-memory:begin -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests/pyodide"))

from bench import sections  # noqa: E402
from pyodide_harness import Harness, worker_spec  # noqa: E402
from shared.config import Settings  # noqa: E402
from shared.synthesis.budget import AUDIO_COPIES, chunk_audio_bytes  # noqa: E402
from shared.synthesis.providers import build_catalogue  # noqa: E402

DOC = REPO / "docs" / "benchmarks.md"

CHUNK = """
import _pyodide_harness, gc
from js import ArrayBuffer, Promise, Uint8Array
from cloudflare_adapters.convert import array_buffer_to_bytes
from cloudflare_adapters.r2 import R2BlobStore
bucket = R2BlobStore(_pyodide_harness.env().TTS_AUDIO_BUCKET)
buffer = ArrayBuffer.new({size})
Uint8Array.new(buffer).fill(7)
audio = await array_buffer_to_bytes(Promise.resolve(buffer))  # as response.arrayBuffer() resolves
del buffer
info = await bucket.put("tmp/{job}/0000000000000000/00000", audio, content_type="audio/wav", custom_metadata={{}})
del audio
gc.collect()
info.size
"""

JOB = "c" * 32


def _node() -> str:
    done = subprocess.run(["bash", str(REPO / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, check=True)
    return done.stdout.strip().splitlines()[-1]


def worst_chunks() -> list[tuple[str, int, int]]:
    """(model, characters a chunk, bytes of its audio at worst) for every model a deployment offers."""
    catalogue = build_catalogue(Settings(), http=None)
    out = []
    for spec in catalogue.models():
        chars = spec.max_input_chars
        out.append((spec.id, chars, chunk_audio_bytes(spec, chars) // AUDIO_COPIES))
    return out


def run_case(size: int, log: Path, node: str) -> tuple[float, float]:
    harness = Harness(node, log, timeout=600.0)
    try:
        harness.add_workers({"synth_consumer": worker_spec(REPO / "workers/synth_consumer", script_names={"tts-api": "api"})})
        harness.call("start", worker="synth_consumer")
        start = harness.call("memory")["synth_consumer"]
        stored = harness.run_python("synth_consumer", CHUNK.format(size=size, job=JOB))
        assert stored == size, (stored, size)
        return start / 1e6, harness.call("memory")["synth_consumer"] / 1e6
    finally:
        harness.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    node = _node()
    log = Path("/tmp/chunk_memory_harness.log")
    rows = []
    by_size: dict[int, tuple[float, float]] = {}
    for model, chars, size in worst_chunks():
        if size not in by_size:  # models with the same worst chunk share one run
            by_size[size] = run_case(size, log, node)
        start, after = by_size[size]
        rows.append((model, chars, size, start, after))
        print(json.dumps({"model": model, "chars": chars, "chunk_mb": size / 1e6, "wasm_start_mb": start,
                          "wasm_after_mb": after}), flush=True)
    begin, end = sections.markers("chunk-memory")
    lines = [
        begin,
        "## Memory of one chunk in Pyodide",
        "",
        "`python -m bench.chunk_memory --write`: each model's largest chunk (its chunk size times its worst",
        "bytes per character: the highest sample rate of its largest format) taken through the synth_consumer",
        "Worker's adapters in real Pyodide 314 (a JS response body -> Python bytes -> R2 put on Miniflare). The",
        "Wasm heap never shrinks, so the figure after the chunk is the peak. The isolate has 128 MB, JS included.",
        "",
        "| model | characters a chunk | worst chunk | Wasm heap after imports | after the chunk |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| `{m}` | {c:,} | {s / 1e6:.1f} MB | {a:.1f} MB | {b:.1f} MB |" for m, c, s, a, b in rows]
    lines += ["", end]
    section = "\n".join(lines)
    print(section)
    if args.write:
        sections.write_section("chunk-memory", section, DOC)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
