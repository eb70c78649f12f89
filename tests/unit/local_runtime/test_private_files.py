"""The data dir holds job text and audio: everything the local runtime creates in it is private
to its user (directories 0700, files 0600), whatever the umask."""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import time
from pathlib import Path

from local_runtime.runtime import LocalRuntime
from shared.http import HttpRequest
from shared.jobs.shard import Get


async def test_every_directory_is_0700_and_every_file_0600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    old_umask = os.umask(0o022)  # the usual umask: without care, files would be 0644
    try:
        runtime = LocalRuntime(data_dir, {"SHARD_COUNT": "2", "QUEUE_MAX_BATCH_TIMEOUT": "0.01", "JOB_RATE_LIMIT": "0"},
                               port=0, log_stream=io.StringIO(), cron_interval=0)
        await runtime.start()
        try:
            reply = await runtime.handle(HttpRequest.build(
                "POST", "/v1/jobs", headers={"Content-Type": "application/json"},
                body=json.dumps({"text": "private words", "model": "tone"}).encode(), base_url="http://127.0.0.1"))
            job_id = json.loads(reply.body)["jobId"]
            deadline = time.monotonic() + 20
            while (await runtime.jobs.call(Get(job_id=job_id))).status.value != "completed":  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        finally:
            await runtime.stop()
    finally:
        os.umask(old_umask)
    modes = {}
    for root, dirs, files in os.walk(data_dir):
        for name in dirs + files:
            path = Path(root) / name
            modes[str(path.relative_to(data_dir))] = stat.S_IMODE(path.lstat().st_mode)
    modes["."] = stat.S_IMODE(data_dir.stat().st_mode)
    assert any("/objects/" in name and not (data_dir / name).is_dir() for name in modes)  # the audio is there
    wrong = {name: oct(mode) for name, mode in modes.items()
             if mode != (0o700 if (data_dir / name).is_dir() else 0o600)}
    assert wrong == {}
