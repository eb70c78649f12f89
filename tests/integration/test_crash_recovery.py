"""kill -9 in the middle of work, restart: no job lost, none done twice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

ENV = {
    # Short leases and visibility so the test need not wait Cloudflare-sized timeouts.
    "LEASE_SECONDS": "2",
    "QUEUE_VISIBILITY_TIMEOUT": "2",
    "QUEUE_MAX_BATCH_SIZE": "50",
    "QUEUE_MAX_BATCH_TIMEOUT": "0.2",
}


def test_kill_9_during_processing_then_restart_loses_nothing(tmp_path: Path) -> None:
    pipeline = Pipeline(tmp_path, env=ENV).start()
    ids = [pipeline.submit(text="k" * 8_000)["jobId"] for _ in range(60)]
    # Wait until the consumer is demonstrably mid-stream: some done, some not.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        statuses = [pipeline.request("GET", f"/v1/jobs/{i}").json()["status"] for i in ids[::6]]
        if "completed" in statuses or "processing" in statuses:
            break
    pipeline.kill()
    assert statuses != ["completed"] * len(statuses), "the kill came too late to test anything"

    restarted = Pipeline(tmp_path, env=ENV).start()
    try:
        final = [restarted.wait(i, timeout=60) for i in ids]
        assert [j["status"] for j in final] == ["completed"] * len(ids)
        keys = restarted.object_keys()
        assert len(keys) == len(set(keys)) == len(ids)  # one object per job, nothing extra
        for job in final[:5]:
            audio = restarted.request("GET", f"/v1/jobs/{job['jobId']}/audio")
            assert len(audio.body) == job["sizeBytes"]
    finally:
        restarted.stop()
