"""Property tests of the request models and of POST /v1/jobs, in process.

Whatever a client sends (any JSON, any bytes, any content type, any header
value), the API answers with a 2xx or a 4xx JSON error, never a 5xx, and it
never leaves a job half written: every stored job has exactly one queue
message and every queue message names a stored job.
"""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.models import CreateJobRequest
from tests.unit.security.conftest import Api, build_api

SAFE_NAME = "^[A-Za-z0-9@/._:+-]{1,100}$"
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.text(max_size=40),
    st.sampled_from(["tone", "espeak", "tone\r\nX-Evil: 1", "../../etc/passwd", "wav", "mp3", "a" * 101, "\x00"]),
    st.integers(min_value=-(10**20), max_value=10**20),
)
bodies = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"text": st.text(max_size=50) | st.just("\ud800") | json_values},
        optional={
            "model": field_values,
            "voiceId": field_values,
            "format": field_values,
            "ttlSeconds": field_values,
            "webhookUrl": field_values | st.sampled_from(["https://hooks.example.com/x", "https://127.0.0.1/"]),
            "webhookEvents": field_values | st.lists(st.sampled_from(["completed", "failed", "canceled", "x"])),
            "cancelAfterSeconds": field_values,
            "extra": json_values,
        },
    ),
)
header_values = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=40)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=bodies)
def test_the_request_model_accepts_only_safe_values(body: object) -> None:
    try:
        parsed = CreateJobRequest.model_validate(body)
    except ValidationError:
        return
    import re

    assert parsed.text and parsed.text.encode("utf-8")
    for name in (parsed.model, parsed.voice_id, parsed.format):
        assert name is None or re.match(SAFE_NAME, name)  # nothing that could split a header
    assert parsed.ttl_seconds is None or parsed.ttl_seconds >= 60
    assert parsed.cancel_after_seconds is None or 1 <= parsed.cancel_after_seconds <= 30 * 86_400
    again = CreateJobRequest.model_validate(parsed.to_json_dict())
    assert again == parsed  # what is stored round-trips


def assert_whole(api: Api) -> None:
    rows = {r["job_id"] for r in api.jobs()}
    messages = [body["jobId"] for body, _ in api.queue.sent]
    assert sorted(messages) == sorted(rows)


async def submit(api: Api, raw: bytes, content_type: str | None, key: str | None, *, max_status: int = 499) -> int:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if key is not None:
        headers["Idempotency-Key"] = key
    reply = await api.call("POST", "/v1/jobs", body=raw, headers=headers)
    assert reply.status <= max_status, reply.body
    error = json.loads(reply.body).get("error") if reply.status >= 400 else None
    assert reply.status in (200, 202) or (error and error["code"] and error["message"])
    for name, value in reply.headers.items():
        assert "\r" not in value and "\n" not in value, name
    return reply.status


@SETTINGS
@given(
    body=bodies,
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain", None, ""]),
    key=st.none() | st.sampled_from(["k1", "k2"]) | header_values,
)
def test_any_json_body_gets_a_4xx_or_a_job_and_nothing_half_written(
    body: object, content_type: str | None, key: str | None
) -> None:
    api = build_api(max_jobs_in_flight=0, job_rate_limit=0)
    raw = json.dumps(body).encode()
    status = asyncio.run(submit(api, raw, content_type, key))
    assert_whole(api)
    if status >= 400:
        assert api.jobs() == []


@SETTINGS
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_get_a_4xx_or_a_job(raw: bytes) -> None:
    api = build_api(max_jobs_in_flight=0, job_rate_limit=0)
    asyncio.run(submit(api, raw, "application/json", None))
    assert_whole(api)


def test_deeply_nested_and_oversized_json_are_4xx() -> None:
    api = build_api()
    deep = b"[" * 400_000 + b"]" * 400_000
    assert asyncio.run(submit(api, deep, "application/json", None)) == 413
    nested = b'{"text":' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    assert asyncio.run(submit(api, nested, "application/json", None)) == 400
    huge = json.dumps({"text": "a" * 700_000}).encode()
    assert asyncio.run(submit(api, huge, "application/json", None)) == 413
    long_text = json.dumps({"text": "a" * 100_001}).encode()
    assert asyncio.run(submit(api, long_text, "application/json", None)) == 422
    assert api.jobs() == [] and api.queue.sent == []


def test_a_failed_enqueue_keeps_the_job_and_a_replay_sends_its_message() -> None:
    api = build_api()
    api.queue.fail_sends = 1
    assert asyncio.run(submit(api, b'{"text":"hi"}', "application/json", "retry-me")) == 202
    assert len(api.jobs()) == 1 and api.queue.sent == []  # accepted: its message waits in its shard's outbox
    assert asyncio.run(submit(api, b'{"text":"hi"}', "application/json", "retry-me")) == 200  # the replay sends it
    assert_whole(api)
