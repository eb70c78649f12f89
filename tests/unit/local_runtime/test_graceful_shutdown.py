"""Graceful shutdown (what SIGTERM runs: ``LocalRuntime.stop``): waits open on the server are
answered at once with their job as it is (``?wait``: 200; ``Prefer: wait``: 202 + Location; the
speech route: 503 with ``x-should-retry: false`` and ``X-Job-Id``), never a bare 500."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from local_runtime.runtime import LocalRuntime

# A batch waits 60 s to fill: the jobs stay queued for the whole test.
ENV = {"SHARD_COUNT": "1", "QUEUE_MAX_BATCH_TIMEOUT": "60", "QUEUE_WAIT_WHEN_IDLE": "1", "QUEUE_MAX_BATCH_SIZE": "100", "JOB_RATE_LIMIT": "0",
       "MAX_WAIT_SECONDS": "60", "SPEECH_WAIT_SECONDS": "60"}


async def http(port: int, method: str, path: str, body: dict | None = None,  # type: ignore[type-arg]
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    for name, value in (headers or {}).items():
        head += f"{name}: {value}\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    answered = time.monotonic()
    writer.close()
    head_bytes, _, payload = raw.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, fields, payload, answered


async def test_open_waits_are_answered_at_once_with_their_job_on_shutdown(tmp_path: Path) -> None:
    runtime = LocalRuntime(tmp_path, ENV, port=0, log_stream=io.StringIO(), cron_interval=0)
    await runtime.start()
    assert runtime.server is not None and runtime.shards is not None
    port = runtime.server.port
    status, _, body, _ = await http(port, "POST", "/v1/jobs", {"text": "hello", "model": "tone"})
    assert status == 202
    job_id = json.loads(body)["jobId"]
    waits = [
        asyncio.ensure_future(http(port, "GET", f"/v1/jobs/{job_id}?wait=50")),
        asyncio.ensure_future(http(port, "POST", "/v1/jobs", {"text": "hi", "model": "tone"}, {"Prefer": "wait=50"})),
        asyncio.ensure_future(http(port, "POST", "/v1/audio/speech", {"model": "tone", "input": "hi", "voice": "alloy"})),
    ]
    waiters = runtime.shards.service("shard-0").waiters
    deadline = time.monotonic() + 10
    while waiters.count < 3:
        assert time.monotonic() < deadline, f"{waiters.count} waits open"
        await asyncio.sleep(0.02)
    stopping = time.monotonic()
    await runtime.stop()
    (get, prefer, speech) = await asyncio.gather(*waits)
    for _, _, _, answered in (get, prefer, speech):
        assert answered - stopping < 2.0
    assert get[0] == 200 and json.loads(get[2])["status"] == "queued"
    assert prefer[0] == 202 and prefer[1]["location"].startswith("/v1/jobs/")
    assert json.loads(prefer[2])["status"] == "queued"
    assert speech[0] == 503 and speech[1]["x-should-retry"] == "false" and speech[1]["x-job-id"]
    assert speech[1]["content-type"].startswith("application/json")
    assert json.loads(speech[2])["error"]["code"] == "shutting_down"
