"""MAX_JOBS_IN_FLIGHT decided by the job's own shard (shared/api/admission.py): one Durable
Object request per submit under the shard's share, exact at the limit whatever SHARD_COUNT."""

from __future__ import annotations

import asyncio

import pytest

from shared.api.admission import shard_share
from shared.errors import ShardFullError
from shared.jobs.shard import JobShard
from shared.jobs.sharding import all_shards
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemorySql
from tests.unit.security.conftest import BOB, body_of, build_api


def _submit_calls(calls: list[tuple[str, str]]) -> list[str]:
    return [method for _, method in calls]


@pytest.mark.parametrize("limit, shards", [(1, 1), (7, 1), (2, 3), (10, 4), (5, 16), (40, 16)])
def test_the_shares_of_all_shards_add_up_to_the_limit(limit: int, shards: int) -> None:
    shares = [shard_share(limit, shards, name) for name in all_shards(shards)]
    assert sum(shares) == limit
    assert max(shares) - min(shares) <= 1


@pytest.mark.parametrize("shards", [1, 3, 4, 16])
@pytest.mark.parametrize("limit", [1, 2, 5, 17])
async def test_exactly_the_limit_is_admitted_then_429_whatever_the_shard_count(shards: int, limit: int) -> None:
    api = build_api(max_jobs_in_flight=limit, shard_count=shards)
    for _ in range(limit):
        assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
    refused = await api.call("POST", "/v1/jobs", json_body={"text": "hi"})
    assert refused.status == 429 and refused.headers.get("retry-after")
    error = body_of(refused)["error"]
    assert error["code"] == "too_many_jobs_in_flight"
    assert f"{limit} jobs are queued or processing (limit {limit})" in error["message"]
    assert len(api.jobs()) == limit and len(api.queue.sent) == limit  # nothing written for the refusal
    # Another tenant has its own budget; a finished job gives its place back.
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, token=BOB)).status == 202
    first = api.jobs()[0]["job_id"]
    assert (await api.call("DELETE", f"/v1/jobs/{first}")).status == 204
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 429


@pytest.mark.parametrize("shards", [1, 4, 16])
async def test_a_submit_under_the_share_is_one_durable_object_request(shards: int) -> None:
    api = build_api(max_jobs_in_flight=100, shard_count=shards)
    for _ in range(3):
        api.shards.calls.clear()
        assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
        assert _submit_calls(api.shards.calls) == ["createWithinBudget"]


async def test_concurrent_submits_never_take_more_than_the_limit() -> None:
    api = build_api(max_jobs_in_flight=6, shard_count=4)
    replies = await asyncio.gather(*(api.call("POST", "/v1/jobs", json_body={"text": "hi"}) for _ in range(20)))
    assert sorted(r.status for r in replies) == [202] * 6 + [429] * 14
    assert len([j for j in api.jobs() if j["status"] == "queued"]) == 6


async def test_a_job_whose_shard_is_at_its_share_moves_to_another_shard() -> None:
    api = build_api(max_jobs_in_flight=4, shard_count=4)  # a share of 1 on each shard
    first = body_of(await api.call("POST", "/v1/jobs", json_body={"text": "hi"}))["jobId"]
    home = api.deps.jobs.shard_of(first)
    # The id source hands out an id on the same shard again: the shard refuses, another takes it.
    same = next(i for i in (f"{n:032x}" for n in range(10**6, 10**7)) if api.deps.jobs.shard_of(i) == home)
    ids = iter([same])
    fallback = api.deps.new_job_id
    api.deps.new_job_id = lambda: next(ids, None) or fallback()
    api.shards.calls.clear()
    moved = await api.call("POST", "/v1/jobs", json_body={"text": "hi"})
    assert moved.status == 202
    view = body_of(moved)
    assert view["jobId"] != same and api.deps.jobs.shard_of(view["jobId"]) != home
    assert moved.headers["location"].endswith(view["jobId"])
    assert api.queue.sent[-1][0]["jobId"] == view["jobId"]  # the message names the job as stored
    assert _submit_calls(api.shards.calls) == ["createWithinBudget", "createWithinBudget"]


async def test_a_keyed_job_at_a_full_shard_falls_back_to_the_exact_count() -> None:
    api = build_api(max_jobs_in_flight=4, shard_count=4)  # a share of 1 on each shard
    keyed = {"Idempotency-Key": "k-1"}
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, headers=keyed)).status == 202
    shard = api.deps.jobs.shard_of(api.jobs()[0]["job_id"])
    # A second key on the same shard: over that shard's share, under the limit: admitted.
    key = next(f"k-{n}" for n in range(2, 10_000) if api.deps.jobs.shard_of(_scoped(f"k-{n}")) == shard)
    api.shards.calls.clear()
    second = await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, headers={"Idempotency-Key": key})
    assert second.status == 202
    assert _submit_calls(api.shards.calls) == ["findIdempotent", "createWithinBudget"] + ["countActive"] * 3 + [
        "createWithinBudget"]
    # A repeat of a key is a replay (200) even at the limit.
    for _ in range(2):
        assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, headers=keyed)).status == 200
    # At the limit a new key is refused with the exact total.
    key = next(f"k-{n}" for n in range(10_000, 20_000) if api.deps.jobs.shard_of(_scoped(f"k-{n}")) == shard)
    refused = await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, headers={"Idempotency-Key": key})
    assert refused.status == 429
    assert "4 jobs are queued or processing (limit 4)" in body_of(refused)["error"]["message"]


def _scoped(key: str) -> str:
    from shared.api.idempotency import scoped_key

    return scoped_key("alice", key)


def _record(n: int, tenant: str = "t") -> JobRecord:
    return JobRecord(job_id=f"{n:032x}", tenant=tenant, status=JobStatus.QUEUED, text="x", model="tone",
                     format="wav", created_at=1.0, updated_at=1.0, ttl_seconds=60)


def test_the_shard_counts_and_inserts_in_one_transaction() -> None:
    shard = JobShard(MemorySql(), FakeClock())
    shard.create_within_budget(_record(1), 2)
    shard.create_within_budget(_record(2), 2)
    with pytest.raises(ShardFullError) as refused:
        shard.create_within_budget(_record(3), 2)
    assert (refused.value.active, refused.value.budget) == (2, 2)
    assert shard.get(_record(3).job_id) is None
    assert shard.create_within_budget(_record(2), 2).job_id == _record(2).job_id  # a repeat admits nothing new
    shard.create_within_budget(_record(4, tenant="u"), 2)  # per tenant
    shard.cancel(_record(1).job_id)
    shard.create_within_budget(_record(3), 2)  # a finished job gave its place back
