"""Conformance of the real Workers (workers/*/src/entry.py) in Pyodide.

The api and synth_consumer Workers run in their own Pyodide each, the job
shards (TtsJobDurableObject) in the api Worker's, with Miniflare's R2 and
queues between them: the same Python-to-JS conversions as on Cloudflare.
Each test checks a docs/architecture.md fact where it lands: the HTTP reply, the R2
object, the queue message, or the shard's SQLite row.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import pytest
from pyodide_harness import REPO_ROOT, Harness, worker_spec

TOKEN = "alice-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BUCKET = "tts-audio-results"
WORKERS = ("api", "synth_consumer")


@pytest.fixture(scope="module")
def api(harness: Harness) -> str:
    names = {"tts-api": "api"}
    harness.add_workers(
        {
            "api": worker_spec(
                REPO_ROOT / "workers/api", secrets={"API_TOKENS": f"alice:{TOKEN}", "SIGNING_KEY": "pyodide-tier-signing-key-0123456789abcdef"}
            ),
            # Tests do not wait for fuller batches (wrangler says 5 s).
            "synth_consumer": worker_spec(
                REPO_ROOT / "workers/synth_consumer", script_names=names, consumer_overrides={"max_batch_timeout": 0}
            ),
        }
    )
    harness.call("start", workers=list(WORKERS))
    return "api"


def submit(harness: Harness, **fields: Any) -> dict[str, Any]:
    reply = harness.fetch("api", "/v1/jobs", method="POST", json_body={"model": "tone", **fields}, headers=AUTH)
    assert reply.status == 202, reply.body
    return reply.json()


def wait_final(harness: Harness, job_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = harness.fetch("api", f"/v1/jobs/{job_id}", headers=AUTH).json()
        if job["status"] in ("completed", "failed", "canceled") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def completed(harness: Harness, **fields: Any) -> dict[str, Any]:
    job = wait_final(harness, submit(harness, **fields)["jobId"])
    assert job["status"] == "completed", job
    return job


def r2_object_of(harness: Harness, job_id: str) -> dict[str, Any]:
    [meta] = [o for o in harness.call("r2_list", bucket=BUCKET, prefix="audio/") if job_id in o["key"]]
    return meta


def shard_rows(harness: Harness, shard: str) -> list[dict[str, Any]]:
    return harness.call("do_sql", worker="api", binding="JOBS", name=shard, query="SELECT * FROM jobs")


def test_submit_enqueues_a_small_fixed_message(harness: Harness, api: str) -> None:
    since = harness.call("queue_log", timeoutMs=0)["next"]

    job = submit(harness, text="Hello")

    delivery = harness.call("queue_log", since=since, min=1)["entries"][0]
    [message] = delivery["messages"]
    assert message["body"] == {"v": 1, "jobId": job["jobId"], "shard": message["body"]["shard"]}
    assert re.fullmatch(r"shard-\d+", message["body"]["shard"])
    assert delivery["worker"] == "synth_consumer" and delivery["calls"] == [{"call": "ack", "id": message["id"]}]


def test_job_metadata_lives_in_its_shard_and_audio_in_r2(harness: Harness, api: str) -> None:
    since = harness.call("queue_log", timeoutMs=0)["next"]
    job = completed(harness, text="Where does the audio go?")
    shard = harness.call("queue_log", since=since, min=1)["entries"][0]["messages"][0]["body"]["shard"]

    [row] = [r for r in shard_rows(harness, shard) if job["jobId"] in r.values()]
    meta = r2_object_of(harness, job["jobId"])

    # The shard keeps metadata only: no value anywhere near the audio's size.
    assert all(not isinstance(v, dict) for v in row.values()), "no BLOB columns in the job row"
    assert max(len(str(v)) for v in row.values()) < 1000 < job["sizeBytes"]
    day = datetime.fromisoformat(job["createdAt"].replace("Z", "+00:00")).strftime("%Y/%m/%d")
    assert meta["key"] == f"audio/{day}/{job['jobId']}.wav"
    assert meta["size"] == job["sizeBytes"]
    assert meta["httpMetadata"]["contentType"] == "audio/wav"
    assert {"jobId", "tenant", "expiresAt"} <= set(meta["customMetadata"])
    assert meta["customMetadata"]["jobId"] == job["jobId"]
    assert meta["customMetadata"]["tenant"] == "alice"


def test_duplicate_delivery_does_not_synthesize_again(harness: Harness, api: str) -> None:
    since = harness.call("queue_log", timeoutMs=0)["next"]
    job = completed(harness, text="Only once")
    [message] = harness.call("queue_log", since=since, min=1)["entries"][0]["messages"]
    before = r2_object_of(harness, job["jobId"])

    again = harness.call("queue", queue="tts-jobs", messages=[{"id": "dup-1", "body": message["body"], "attempts": 1}])

    assert again["error"] is None
    assert again["calls"] == [{"call": "ack", "id": "dup-1"}]
    assert r2_object_of(harness, job["jobId"])["uploaded"] == before["uploaded"]
    assert wait_final(harness, job["jobId"])["status"] == "completed"


def test_malformed_message_is_acked_not_retried(harness: Harness, api: str) -> None:
    outcome = harness.call("queue", queue="tts-jobs", messages=[{"id": "poison", "body": {"nonsense": True}}])

    assert outcome == {**outcome, "error": None, "calls": [{"call": "ack", "id": "poison"}]}


