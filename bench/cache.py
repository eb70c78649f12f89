"""What the synthesis cache costs and saves: billable operations per job, miss vs hit, from the meter.

Run: ``python -m bench.cache [--write]``.

One local runtime in this process (``LocalRuntime``, a fresh data dir), an
OpenAI-compatible provider on loopback counting its calls, ``openai/tts-1``
(4,096 characters a request). Queue messages are delivered by hand, so each
row meters exactly one job from submit to completed (the reaper not
included). Rows:

- a one-chunk job with ``"cache": false`` (the pipeline without the cache),
  the same text's first job (a miss: it also writes the entry), and its
  repeat (a hit: completed at submit);
- a ten-paragraph text of ten chunks: first job, the text with one
  paragraph edited, and the edited text again (every chunk cached: the
  consumer joins the entries without a provider call).

Durable Object rows are what the local SQLite shards count as Cloudflare
bills them; R2 class A are puts, lists and multipart operations, class B
gets and heads. ``--write`` replaces the ``<!-- cache:begin -->`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import io
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

from bench import sections
from shared.audio.wav import wav_bytes

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
COLUMNS = [
    ("do.requests", "DO req"), ("do.rows_read", "rows read"), ("do.rows_written", "rows written"),
    ("queue.write", "queue write"), ("queue.read", "queue read"), ("r2.class_a", "R2 A"), ("r2.class_b", "R2 B"),
]


class Provider(BaseHTTPRequestHandler):
    calls = 0
    characters = 0
    lock = threading.Lock()

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            type(self).calls += 1
            type(self).characters += len(body["input"])
        samples = [ord(c) % 2000 for c in body["input"][:2000]] or [0]
        audio = wav_bytes(struct.pack(f"<{len(samples)}h", *samples), 24000)
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)


@contextmanager
def provider() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def book(changed: int | None = None) -> str:
    return "\n\n".join(
        " ".join(f"Paragraph {p}, sentence {i}, is {'altered' if p == changed else 'written'} here to be read."
                 for i in range(57))
        for p in range(10)
    )


async def measure() -> list[dict[str, Any]]:
    from local_runtime.bindings.queue import Outcome, QueueConsumerConfig
    from local_runtime.runtime import LocalRuntime
    from shared.consumer import process_batch
    from shared.http import HttpRequest
    from shared.jobs.shard import Get
    from shared.outcomes import Retry

    consumer = QueueConsumerConfig(max_batch_size=10, max_batch_timeout=0, max_retries=3)
    rows: list[dict[str, Any]] = []
    with provider() as url, tempfile.TemporaryDirectory(prefix="bench-cache-") as data_dir:
        env = {"OPENAI_API_KEY": "sk-bench", "OPENAI_BASE_URL": url, "MAX_AUDIO_BYTES": "1000000000",
               "SHARD_COUNT": "4"}
        rt = LocalRuntime(data_dir, env, port=0, cron_interval=0, log_stream=io.StringIO())
        try:
            async def job(label: str, text: str, **fields: Any) -> None:
                before, calls, chars = rt.meter.snapshot(), Provider.calls, Provider.characters
                body = json.dumps({"text": text, "model": "openai/tts-1", "format": "wav", **fields}).encode()
                started = time.perf_counter()
                reply = await rt.handle(HttpRequest.build(
                    "POST", "/v1/jobs", headers={"content-type": "application/json"}, body=body))
                submit_ms = (time.perf_counter() - started) * 1000
                view = json.loads(reply.body)
                while True:  # deliver every message, as the queue would
                    batch = await rt.queue.pull_batch(consumer)
                    if not batch:
                        break
                    result = await process_batch(batch, rt.consumer)
                    outcomes = {
                        m: Outcome.retry(d.delay_seconds) if isinstance(d, Retry) else Outcome.ack()
                        for m, d in result.outcomes.items()
                    }
                    await rt.queue.settle_batch(batch, False, outcomes)
                after = rt.meter.snapshot()  # before the bench's own look at the job
                record = await rt.jobs.call(Get(job_id=view["jobId"]))
                assert record is not None and record.status.value == "completed", record
                rows.append({
                    "label": label, "status": reply.status, "submitMs": submit_ms,
                    "ops": {k: after.get(k, 0) - before.get(k, 0) for k, _ in COLUMNS},
                    "calls": Provider.calls - calls, "billed": Provider.characters - chars,
                    "saved": after.get("cache.characters_saved", 0) - before.get("cache.characters_saved", 0),
                    "reused": f"{record.cache_reused}/{record.cache_total}" if record.cache_scope else "–",
                })

            short = "Your order has shipped and will arrive on Thursday."
            await job('one chunk, `"cache": false`', short, cache=False)
            await job("one chunk, first (miss)", short)
            await job("one chunk, again (hit at submit)", short)
            await job("10 chunks, first (miss)", book())
            await job("10 chunks, one paragraph edited", book(changed=6))
            await job("10 chunks, edited text again (every chunk reused)", book(changed=6))
        finally:
            await rt.stop()
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    begin, end = sections.markers("cache")
    head = "| job | POST status | submit | " + " | ".join(n for _, n in COLUMNS) + " | provider calls | characters billed | characters saved | chunks reused |"
    lines = [
        begin,
        "## The synthesis cache: what a hit costs",
        "",
        "`python -m bench.cache --write`: one local runtime, `openai/tts-1` against an OpenAI-compatible provider on",
        "loopback; each row is one job from submit to completed (queue delivered by hand, reaper not included),",
        "metered by the local bindings as Cloudflare bills them. Submit time is the api handler's, in process.",
        "Characters saved are the meter's `cache.characters_saved` (what `GET /__meter` shows on the local runtime;",
        "on Cloudflare each job records its own, and the `job_cache_hit` / `job_completed` log lines carry `savedChars`).",
        "",
        head,
        "| " + " | ".join("---" for _ in range(len(COLUMNS) + 8)) + " |",
    ]
    for r in rows:
        ops = " | ".join(f"{r['ops'][k]:,}" for k, _ in COLUMNS)
        lines.append(
            f"| {r['label']} | {r['status']} | {r['submitMs']:.1f} ms | {ops} | {r['calls']} | {r['billed']:,} | "
            f"{r['saved']:,} | {r['reused']} |"
        )
    lines += ["", end]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="replace the section in docs/benchmarks.md")
    args = parser.parse_args()
    text = render(asyncio.run(measure()))
    print(text)
    if args.write:
        sections.write_section("cache", text, DOC)


if __name__ == "__main__":
    main()
