"""A full disk, seen through real SQLite: each shard database capped at the pages it has (``PRAGMA
max_page_count``, SQLite's own SQLITE_FULL). POST /v1/jobs answers 507 with Retry-After and the
condition named, never 500 internal, and works again once there is room, without a restart. (The
same with a real full file system: tests/integration/test_disk_full.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

from local_runtime.runtime import LocalRuntime
from shared.http import HttpRequest


def post(text: str = "hello") -> HttpRequest:
    return HttpRequest.build("POST", "/v1/jobs", headers={"Content-Type": "application/json"},
                             body=json.dumps({"text": text, "model": "tone"}).encode(), base_url="http://127.0.0.1")


async def test_a_full_shard_database_answers_507_then_recovers(tmp_path: Path) -> None:
    env = {"SHARD_COUNT": "1", "CRON_INTERVAL_SECONDS": "0", "JOB_RATE_LIMIT": "0"}
    runtime = LocalRuntime(tmp_path, env, port=0, log_stream=io.StringIO(), cron_interval=0)
    assert runtime.namespace is not None
    assert (await runtime.handle(post())).status == 202
    shard = runtime.namespace.get("shard-0")._conn
    pages = shard.execute("PRAGMA page_count").fetchone()[0]
    shard.execute(f"PRAGMA max_page_count = {pages}")  # not one page more: the next growth is SQLITE_FULL
    refused = None
    for n in range(200):  # the current pages' free room fills first
        reply = await runtime.handle(post("x" * 2000 + str(n)))
        if reply.status != 202:
            refused = reply
            break
    assert refused is not None and refused.status == 507
    assert refused.headers["Retry-After"].isdigit()
    error = json.loads(refused.body)["error"]
    assert error["code"] == "storage_full" and error["condition"] == "disk_full"
    shard.execute("PRAGMA max_page_count = 1073741823")  # room again
    assert (await runtime.handle(post())).status == 202  # no restart, no transaction left open
    await runtime.stop()
