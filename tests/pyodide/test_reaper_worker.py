"""Conformance of the reaper Worker (workers/reaper) in Pyodide.

The reaper deletes things, so it gets a pipeline of its own inside the
harness: its own api (job shards with a 1 s job TTL), consumer, bucket and
queues, so that nothing it does can touch the other tests' jobs.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from pyodide_harness import REPO_ROOT, Harness, worker_spec

TOKEN = "reaper-tenant-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
BUCKET = "reaper-world-audio"
QUEUES = {"tts-jobs": "reaper-world-jobs", "tts-chunks": "reaper-world-chunks", "tts-jobs-dlq": "reaper-world-jobs-dlq"}
API, CONSUMER, REAPER = "reaper_world_api", "reaper_world_consumer", "reaper_world_reaper"


def isolated(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with this module's own bucket and queues."""
    spec["r2_buckets"] = {binding: BUCKET for binding in spec["r2_buckets"]}
    spec["queue_producers"] = {b: QUEUES.get(q, q) for b, q in spec["queue_producers"].items()}
    spec["queue_consumers"] = [
        {k: QUEUES.get(v, v) if k in ("queue", "dead_letter_queue") else v for k, v in c.items()}
        for c in spec["queue_consumers"]
    ]
    return spec


@pytest.fixture(scope="module")
def world(harness: Harness) -> None:
    names = {"tts-api": API}
    secrets = {"API_TOKENS": f"reaper:{TOKEN}", "SIGNING_KEY": "pyodide-tier-signing-key-0123456789abcdef"}
    harness.add_workers(
        {
            API: isolated(
                worker_spec(
                    REPO_ROOT / "workers/api",
                    secrets=secrets,
                    vars_override={"JOB_TTL_SECONDS": "1", "MAX_TTL_SECONDS": "1"},
                )
            ),
            CONSUMER: isolated(
                worker_spec(
                    REPO_ROOT / "workers/synth_consumer",
                    script_names=names,
                    consumer_overrides={"max_batch_timeout": 0},
                )
            ),
            REAPER: isolated(
                worker_spec(
                    REPO_ROOT / "workers/reaper",
                    script_names=names,
                    vars_override={"ORPHAN_GRACE_SECONDS": "0", "REAPER_SWEEP_INTERVAL_SECONDS": "0"},
                )
            ),
        }
    )
    harness.call("start", workers=[API, CONSUMER, REAPER])


def run_reaper(harness: Harness) -> dict[str, Any]:
    """One cron run; returns its JSON report (the `reaper_run` log line)."""
    since = harness.call("logs")["next"]
    outcome = harness.call("scheduled", worker=REAPER, cron="*/15 * * * *")
    assert outcome["error"] is None
    lines = [json.loads(e["line"]) for e in harness.call("logs", since=since, worker=REAPER)["entries"]]
    [report] = [line for line in lines if line.get("event") == "reaper_run"]
    return report


def completed_job(harness: Harness) -> dict[str, Any]:
    reply = harness.fetch(API, "/v1/jobs", method="POST", json_body={"text": "Short lived", "model": "tone"}, headers=AUTH)
    assert reply.status == 202, reply.body
    job_id = reply.json()["jobId"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = harness.fetch(API, f"/v1/jobs/{job_id}", headers=AUTH).json()
        if job.get("status") == "completed":
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not complete")


def keys(harness: Harness) -> list[str]:
    return harness.r2_keys(BUCKET, "audio/")


def test_sweep_deletes_an_object_whose_job_does_not_exist(harness: Harness, world: None) -> None:
    orphan = "audio/2026/01/02/" + "ab" * 16 + ".wav"
    foreign = "audio/readme.txt"
    for key in (orphan, foreign):
        harness.call("r2_put", bucket=BUCKET, key=key, bodyBase64=base64.b64encode(b"RIFF").decode())

    report = run_reaper(harness)

    assert report["sweep"] == "ran" and report["errors"] == []
    assert orphan not in keys(harness)
    # Not a job's key and younger than the longest retention: kept.
    assert foreign in keys(harness)
