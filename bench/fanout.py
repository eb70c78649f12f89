"""A long job with a slow provider: chunks fanned out over the queue vs one after another.

Run: ``python -m bench.fanout [--chars 40000] [--seconds-per-char 0.004] [--wall 30] [--smoke] [--write]``.

An OpenAI-compatible provider on loopback (in this process) takes
``--seconds-per-char`` per character, so each 4,096-character chunk of
``openai/tts-1`` takes about 16 s at the defaults. One local runtime per
variant, each in a fresh data dir:

- ``serial``: ``CHUNK_FANOUT=0``, 900 s invocations (the old path: every chunk
  in the job's own delivery, one after another);
- ``fan-out, max_concurrency N`` for N in 1, 2, 4: chunk tasks on the queue,
  ``CONSUMER_WALL_SECONDS=--wall`` (each invocation cut to it), ``QUEUE_MAX_CONCURRENCY=N``.

Measured per variant: submit -> ``completed`` and submit -> the first byte of
``GET /v1/jobs/{id}/audio?stream=1`` (chunk 0 stored: first audio), the
provider's requests and the most it served at once. ``--write`` replaces the
``<!-- fanout:begin -->`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench import loopback, sections
from bench.runtime_proc import ROOT, RuntimeProcess
from shared.audio.wav import wav_bytes

DOC = ROOT / "docs" / "benchmarks.md"
SENTENCE = "Line {} of a long text read by a slow provider, one chunk at a time. "


class SlowProvider(BaseHTTPRequestHandler):
    seconds_per_char = 0.004
    requests = 0
    in_flight = 0
    most_in_flight = 0
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        with cls.lock:
            cls.requests += 1
            cls.in_flight += 1
            cls.most_in_flight = max(cls.most_in_flight, cls.in_flight)
        try:
            time.sleep(len(body["input"]) * cls.seconds_per_char)
            audio = wav_bytes(struct.pack("<2400h", *([1000] * 2400)), 24000)
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(audio)))
            self.end_headers()
            self.wfile.write(audio)
        finally:
            with cls.lock:
                cls.in_flight -= 1


@contextmanager
def provider(seconds_per_char: float) -> Iterator[str]:
    SlowProvider.seconds_per_char = seconds_per_char
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowProvider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def call(port: int, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
    status, _, data = loopback.call(port, method, path, body, timeout=600)
    return status, data


def first_byte(port: int, job_id: str, started: float, out: dict[str, float]) -> None:
    with loopback.client(port, timeout=900) as client, client.stream("GET", f"/v1/jobs/{job_id}/audio?stream=1") as reply:
        next(reply.iter_raw(), b"")
        out["first"] = time.monotonic() - started


def run_variant(name: str, env: dict[str, str], text: str, url: str) -> dict[str, Any]:
    SlowProvider.requests = SlowProvider.most_in_flight = 0
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        base = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": "sk-bench", "MODEL_SPEEDS": "openai/tts-1=250",
                "MAX_TEXT_CHARS": "400000", "MAX_AUDIO_BYTES": "1000000000", "RETRY_BASE_SECONDS": "1"}
        with RuntimeProcess(Path(tmp), env={**base, **env}) as runtime:
            started = time.monotonic()
            status, body = call(runtime.port, "POST", "/v1/jobs", {"text": text, "model": "openai/tts-1", "format": "wav"})
            if status != 202:
                raise RuntimeError(f"{name}: submit answered {status}: {body[:300]!r}")
            job_id = json.loads(body)["jobId"]
            first: dict[str, float] = {}
            reader = threading.Thread(target=first_byte, args=(runtime.port, job_id, started, first), daemon=True)
            reader.start()
            while True:
                _, body = call(runtime.port, "GET", f"/v1/jobs/{job_id}?wait=30")
                job = json.loads(body)
                if job["status"] in ("completed", "failed", "canceled"):
                    break
            elapsed = time.monotonic() - started
            reader.join(60)
    return {
        "variant": name, "status": job["status"], "seconds": elapsed, "first": first.get("first"),
        "requests": SlowProvider.requests, "most": SlowProvider.most_in_flight, "chunks": job.get("progress"),
    }


def render(results: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    begin, end = sections.markers("fanout")
    serial = next((r["seconds"] for r in results if r["variant"] == "serial"), None)
    lines = [
        begin,
        "## Long jobs: fanned out vs serial",
        "",
        f"`{command}`: one {args.chars:,}-character `openai/tts-1` job (chunks of 4,096 characters) against an",
        f"OpenAI-compatible provider on loopback taking {args.seconds_per_char * 1000:g} ms a character",
        f"({args.chars * args.seconds_per_char:.0f} s of provider time in all). Serial: `CHUNK_FANOUT=0`, 900 s invocations;",
        f"fan-out: `CONSUMER_WALL_SECONDS={args.wall}`, `QUEUE_MAX_CONCURRENCY` as given. One run each, on this machine's 2 cores.",
        "",
        "| variant | status | to complete | vs serial | to first audio | provider requests | most at once |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        ratio = f"{serial / r['seconds']:.2f}x" if serial else "-"
        first = f"{r['first']:.1f} s" if r["first"] is not None else "-"
        lines.append(
            f"| {r['variant']} | {r['status']} | {r['seconds']:.1f} s | {ratio} | {first} | {r['requests']} | {r['most']} |"
        )
    lines += ["", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chars", type=int, default=40_000)
    parser.add_argument("--seconds-per-char", type=float, default=0.004)
    parser.add_argument("--wall", type=int, default=30)
    parser.add_argument("--smoke", action="store_true", help="a short job, a fast provider: that it runs")
    parser.add_argument("--write", action="store_true", help="replace the fanout section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.smoke:
        args.chars, args.seconds_per_char = 9_000, 0.0005
    text = "".join(SENTENCE.format(i) for i in range(args.chars // 40 + 1))[: args.chars]
    variants = [("serial", {"CHUNK_FANOUT": "0"})] + [
        (f"fan-out, max_concurrency {n}", {"CONSUMER_WALL_SECONDS": str(args.wall), "QUEUE_MAX_CONCURRENCY": str(n)})
        for n in (1, 2, 4)
    ]
    results = []
    with provider(args.seconds_per_char) as url:
        for name, env in variants:
            result = run_variant(name, env, text, url)
            print(json.dumps(result), flush=True)
            results.append(result)
    command = "python -m bench.fanout" + (" --smoke" if args.smoke else "")
    section = render(results, args, command)
    print(section)
    if args.write:
        sections.write_section("fanout", section, DOC)
    return 0 if all(r["status"] == "completed" for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
