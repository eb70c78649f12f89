from __future__ import annotations

import pytest

from shared.jobs.shard import Claim, Fail
from shared.jobs.sharding import shard_for
from tests.unit.security.conftest import BOB, Api, body_of

KEY = {"Idempotency-Key": "order-42"}


async def test_a_repeat_with_the_same_body_returns_the_same_job_with_200(api: Api) -> None:
    first = await api.call("POST", "/v1/jobs", json_body={"text": "hello", "model": "tone"}, headers=KEY)
    again = await api.call("POST", "/v1/jobs", json_body={"model": "tone", "text": "hello"}, headers=KEY)
    assert first.status == 202 and again.status == 200
    assert body_of(again)["jobId"] == body_of(first)["jobId"]
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.headers.get("location") == first.headers.get("location")
    assert len(api.jobs()) == 1 and len(api.queue.sent) == 1


async def test_the_same_key_with_another_body_is_a_422_naming_the_conflict(api: Api) -> None:
    first = await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY)
    other = await api.call("POST", "/v1/jobs", json_body={"text": "goodbye"}, headers=KEY)
    assert other.status == 422
    error = body_of(other)["error"]
    assert error["code"] == "idempotency_conflict" and error["field"] == "Idempotency-Key"
    assert error["jobId"] == body_of(first)["jobId"] and "order-42" in error["message"]
    assert len(api.jobs()) == 1


async def test_keys_are_scoped_to_the_tenant(api: Api) -> None:
    alice = await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY)
    bob = await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY, token=BOB)
    assert alice.status == bob.status == 202
    assert body_of(alice)["jobId"] != body_of(bob)["jobId"]


async def test_a_key_expires_with_its_job(api: Api) -> None:
    body = {"text": "hello", "ttlSeconds": 60}
    first = body_of(await api.call("POST", "/v1/jobs", json_body=body, headers=KEY))
    await api.shards.client.call(Claim(job_id=first["jobId"], lease_seconds=30))
    await api.shards.client.call(Fail(job_id=first["jobId"], error="boom"))  # final: expires 60 s from now
    api.clock.advance(61)
    again = await api.call("POST", "/v1/jobs", json_body={"text": "other body now"}, headers=KEY)
    assert again.status == 202 and body_of(again)["jobId"] != first["jobId"]


async def test_deleting_the_job_frees_its_key(api: Api) -> None:
    first = body_of(await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY))
    assert (await api.call("DELETE", f"/v1/jobs/{first['jobId']}")).status == 204
    again = await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY)
    assert again.status == 202 and body_of(again)["jobId"] != first["jobId"]


async def test_a_keyed_job_lives_on_its_keys_shard(api: Api) -> None:
    job = body_of(await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers=KEY))
    from shared.api.idempotency import scoped_key

    count = api.deps.settings.shard_count
    assert shard_for(job["jobId"], count) == shard_for(scoped_key("alice", "order-42"), count)


def test_the_shard_create_is_the_tie_breaker_for_a_key() -> None:
    # Two requests that both missed the lookup: the second insert returns the first job.
    from shared.jobs.shard import JobShard
    from shared.models import JobRecord, JobStatus
    from tests.fakes import FakeClock, MemorySql

    clock = FakeClock()
    shard = JobShard(MemorySql(), clock)

    def record(job_id: str, tenant: str = "alice") -> JobRecord:
        return JobRecord(
            job_id=job_id, tenant=tenant, status=JobStatus.QUEUED, text="t", model="tone", format="wav",
            created_at=clock.now, updated_at=clock.now, ttl_seconds=60, idempotency_key="k", request_hash="h",
        )

    first = shard.create(record("a" * 32))
    assert shard.create(record("b" * 32)).job_id == first.job_id
    assert shard.create(record("c" * 32, tenant="bob")).job_id == "c" * 32
    assert shard.get("b" * 32) is None


@pytest.mark.parametrize("key", ["", " leading", "tab\tkey", "é", "x" * 256])
async def test_malformed_keys_are_400(api: Api, key: str) -> None:
    reply = await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, headers={"Idempotency-Key": key})
    assert reply.status == 400 and body_of(reply)["error"]["code"] == "invalid_idempotency_key"
    assert api.jobs() == []


async def test_a_replay_is_not_rate_limited(api: Api) -> None:
    from tests.unit.security.conftest import build_api

    limited = build_api(job_rate_limit=1, job_rate_period=60)
    assert (await limited.call("POST", "/v1/jobs", json_body={"text": "a"}, headers=KEY)).status == 202
    assert (await limited.call("POST", "/v1/jobs", json_body={"text": "a"}, headers=KEY)).status == 200
    assert (await limited.call("POST", "/v1/jobs", json_body={"text": "b"})).status == 429
