"""kill -9 of the local runtime in the middle of a long job's multipart assembly, then restart:
the job completes with one correct WAV and the upload is carried on, not started again."""

from __future__ import annotations

import json
import sqlite3
import struct
import time
from contextlib import closing
from pathlib import Path

import pytest

from shared.synthesis.catalogue import OFFLINE_INPUT_CHARS
from shared.text.chunking import chunk_texts
from tests.integration.harness import Pipeline

pytestmark = [
    pytest.mark.slow,
    pytest.mark.local_only("reads the local bucket's multipart tables to kill between parts"),
]

TOKEN = "alice-token"
CHARS = 60_000  # 173 MB of 24 kHz tone WAV: 21 parts of 8 MiB
SLOT = 24_000 * 60 // 1000 * 2


def uploads(data_dir: Path) -> list[tuple[str, int, int]]:
    """(upload id, state, parts stored) of every multipart upload in the local bucket's index."""
    index = next(Path(data_dir, "r2").rglob("index.sqlite"))
    with closing(sqlite3.connect(index, timeout=5)) as db:
        try:
            rows = db.execute(
                "SELECT u.upload_id, u.state, (SELECT count(*) FROM parts p WHERE p.upload_id = u.upload_id) FROM uploads u"
            ).fetchall()
        except sqlite3.OperationalError:  # the tables are made when the bucket opens
            return []
    return [(str(a), int(b), int(c)) for a, b, c in rows]


@pytest.fixture
def pipeline_env() -> dict[str, str]:
    return {"API_TOKENS": f"alice:{TOKEN}"}


def test_a_crash_between_parts_resumes_the_upload(tmp_path: Path, runtime: str, pipeline_env: dict[str, str]) -> None:
    data_dir = tmp_path / "data"
    first = Pipeline(data_dir, env=pipeline_env, runtime=runtime).start()
    text = ("The quick brown fox jumps over the lazy dog, and then it rests. " * (CHARS // 64 + 1))[:CHARS].strip()
    chunks = chunk_texts(text, OFFLINE_INPUT_CHARS)
    job = first.submit(token=TOKEN, text=text, model="tone", format="wav", sampleRate=24000)
    deadline = time.monotonic() + 120
    killed_with = 0
    while time.monotonic() < deadline:
        live = [u for u in uploads(data_dir) if u[1] == 0]
        if live and live[0][2] >= 2:  # two parts up, more to come
            first.kill()
            killed_with = live[0][2]
            break
        if first.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).json()["status"] == "completed":
            pytest.fail("the job completed before the kill landed between parts")
        time.sleep(0.01)
    assert killed_with >= 2, "never saw the upload in progress"
    (upload_id, _, _), = [u for u in uploads(data_dir) if u[1] == 0]

    second = Pipeline(data_dir, env=pipeline_env, runtime=runtime).start()
    try:
        done = second.wait(job["jobId"], token=TOKEN, timeout=180)
        assert done["status"] == "completed", done
        assert done["progress"] == {"done": len(chunks), "total": len(chunks)}
        # the same upload was completed: no second one was created, none is left open
        assert [(u[0], u[1]) for u in uploads(data_dir)] == [(upload_id, 1)]
        resumed = [json.loads(line) for line in second.log_lines if '"upload_resumed"' in line]
        assert resumed and resumed[0]["parts"] >= killed_with - 1  # a part may have been up but not recorded
        head = second.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN, headers={"Range": "bytes=0-43"})
        assert head.status == 206
        size = int(head.headers["content-range"].rsplit("/", 1)[1])
        assert size == 44 + sum(len(c) for c in chunks) * SLOT == done["sizeBytes"]
        assert struct.unpack_from("<I", head.body, 40)[0] == size - 44
        middle = second.request(
            "GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN, headers={"Range": f"bytes={size // 2}-{size // 2 + 9}"}
        )
        assert middle.status == 206 and len(middle.body) == 10
        assert not [k for k in second.object_keys() if k.startswith("tmp/")]
    finally:
        second.stop()
