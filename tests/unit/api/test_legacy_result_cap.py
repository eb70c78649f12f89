"""The legacy base64 /result holds the whole audio in memory several times over
(in a Worker: Python bytes, the base64 body, and its copy into JS), so above
LEGACY_RESULT_MAX_BYTES it answers 413 and points at the streamed /audio."""

from __future__ import annotations

import base64
import json

from shared.jobs.shard import Claim, Complete
from shared.models import JobStatus
from tests.unit.api.test_api_models_and_limits import app, call, data


async def completed_job(api, shards, size: int) -> str:  # type: ignore[no-untyped-def]
    reply = await call(api, "POST", "/v1/jobs", {"text": "hello"})
    job_id = data(reply)["jobId"]
    claimed = await shards.client.call(Claim(job_id=job_id, lease_seconds=60))
    key = f"audio/2026/11/24/{job_id}.wav"
    info = await api.deps.bucket.put(key, b"\x01" * size, content_type="audio/wav", custom_metadata={})
    await shards.client.call(
        Complete(
            job_id=job_id,
            audio_key=key,
            mime_type="audio/wav",
            size_bytes=info.size,
            etag=info.etag,
            characters=len(claimed.text),
        )
    )
    return str(job_id)


async def test_result_within_the_cap_carries_the_audio() -> None:
    api, shards = app(LEGACY_RESULT_MAX_BYTES="1000")
    job_id = await completed_job(api, shards, 1000)
    reply = await call(api, "GET", f"/v1/jobs/{job_id}/result")
    body = json.loads(reply.body)
    assert reply.status == 200 and body["status"] == JobStatus.COMPLETED.value
    assert base64.b64decode(body["base64Audio"]) == b"\x01" * 1000


async def test_result_over_the_cap_is_413_naming_the_audio_url() -> None:
    api, shards = app(LEGACY_RESULT_MAX_BYTES="1000")
    job_id = await completed_job(api, shards, 1001)
    reply = await call(api, "GET", f"/v1/jobs/{job_id}/result")
    error = data(reply)["error"]
    assert reply.status == 413 and error["code"] == "result_too_large"
    assert f"/v1/jobs/{job_id}/audio" in error["message"]
    # the job itself is untouched: its audio is still served, streamed
    assert (await call(api, "GET", f"/v1/jobs/{job_id}/audio")).status == 200
