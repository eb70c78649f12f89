"""A full disk, for real: ``tts-pipeline dev`` with its data dir on a 16 MB tmpfs of its own (a
user and mount namespace, ``unshare -Urm``; skipped where the machine does not allow one).

While the disk is full, a new job is refused 507 ``storage_full`` with ``Retry-After`` (never
500 ``internal``), and the consumer's loop, failing to pull the queued jobs, makes ``/healthz``
answer 503 naming it. Once space is freed, without a restart, the loop recovers, every queued job
completes, none is left processing, and new jobs are accepted again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline

pytestmark = [pytest.mark.slow, pytest.mark.local_only("fills the local runtime's own file system")]

TMPFS_SIZE = "16m"
WRAPPER = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c",
           f'mount -t tmpfs -o size={TMPFS_SIZE} tmpfs "$0" && exec "$@"']


def namespaces_allowed(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run([*WRAPPER, str(tmp_path), "true"], capture_output=True, timeout=10)
    return probe.returncode == 0


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    if not namespaces_allowed(tmp_path):
        pytest.skip("no unprivileged user and mount namespaces here: the full-disk probe needs its own tmpfs"
                    " (tests/unit/local_runtime/test_storage_full.py covers a full database by itself)")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {"SHARD_COUNT": "1", "QUEUE_MAX_BATCH_TIMEOUT": "4", "QUEUE_WAIT_WHEN_IDLE": "1", "QUEUE_MAX_BATCH_SIZE": "100", "JOB_RATE_LIMIT": "0"}
    p = Pipeline(data_dir, env=env, wrapper=[*WRAPPER, str(data_dir)])
    p.start()
    try:
        yield p
    finally:
        p.stop()


def fill(path: Path) -> int:
    """Write ``path`` until the file system is full (down to its last bytes); returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    written += os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return written


def test_a_full_disk_is_507_and_503_then_everything_resumes_without_a_restart(pipeline: Pipeline) -> None:
    assert pipeline.process is not None
    # The tmpfs is mounted in the runtime's own namespace: reached through its /proc root.
    inside = Path(f"/proc/{pipeline.process.pid}/root") / str(pipeline.data_dir).lstrip("/")
    assert (inside / "queues.sqlite").exists()
    queued = [pipeline.submit(text=f"job {i} waits for its batch")["jobId"] for i in range(3)]
    filler = inside / "filler"
    fill(filler)
    try:
        refused = pipeline.request("POST", "/v1/jobs", json_body={"text": "one more"})
        assert refused.status == 507, refused.body
        assert refused.headers["retry-after"].isdigit()
        error = refused.json()["error"]
        assert error["code"] == "storage_full" and error["condition"] == "disk_full"
        deadline = time.monotonic() + 30
        while True:  # the batch timeout passes: the consumer's pull fails, and says so
            health = pipeline.request("GET", "/healthz")
            if health.status == 503:
                break
            assert time.monotonic() < deadline, "the failing pull never showed in /healthz"
            time.sleep(0.2)
        assert any(f["loop"].startswith("queue:") for f in health.json()["failing"])
    finally:
        os.unlink(filler)
    freed = time.monotonic()
    for job_id in queued:
        assert pipeline.wait(job_id, timeout=60)["status"] == "completed"
    assert time.monotonic() - freed < 60
    assert pipeline.request("GET", "/healthz").status == 200
    jobs = pipeline.request("GET", "/v1/jobs?limit=100").json()["jobs"]
    assert not [j for j in jobs if j["status"] == "processing"]
    assert pipeline.request("POST", "/v1/jobs", json_body={"text": "after"}).status == 202
