"""Waiting and tenancy: the shard checks a job is the caller's before any wait (another tenant's
job answers 404 as fast as a missing one), and a shard's waiting places are shared fairly between
tenants (the tenant over its share gets 429 with Retry-After, never another tenant a 504)."""

from __future__ import annotations

import asyncio
import json
import time

from shared.http import HttpResponse
from tests.unit.security.conftest import ALICE, BOB, Api, build_api


async def submit(api: Api, token: str = ALICE) -> str:
    reply = await api.call("POST", "/v1/jobs", json_body={"text": "hi", "model": "tone"}, token=token)
    assert reply.status == 202, reply.body
    return str(json.loads(reply.body)["jobId"])


async def parked(coro: object) -> asyncio.Task[HttpResponse]:
    task: asyncio.Task[HttpResponse] = asyncio.ensure_future(coro)  # type: ignore[arg-type]
    for _ in range(10):
        await asyncio.sleep(0)
    assert not task.done(), "the wait answered at once"
    return task


async def test_another_tenants_job_answers_404_at_once_however_long_the_wait() -> None:
    api = build_api(shard_count=1)
    alices = await submit(api)
    started = time.monotonic()
    reply = await asyncio.wait_for(api.call("GET", f"/v1/jobs/{alices}?wait=4", token=BOB), 1.0)
    assert reply.status == 404 and time.monotonic() - started < 1.0
    missing = await api.call("GET", f"/v1/jobs/{'f' * 32}?wait=4", token=BOB)
    assert missing.status == 404 and json.loads(missing.body)["error"]["code"] == json.loads(reply.body)["error"]["code"]
    assert api.shards.services["shard-0"].waiters.count == 0  # no place was ever taken


async def test_a_tenant_under_its_share_takes_a_place_from_the_tenant_holding_them_all() -> None:
    api = build_api(shard_count=1, max_waiters_per_shard=4)
    job = await submit(api)
    alice = [await parked(api.call("GET", f"/v1/jobs/{job}?wait=30")) for _ in range(4)]
    # Alice holds every place: her fifth wait is over her share, 429 with Retry-After.
    refused = await api.call("GET", f"/v1/jobs/{job}?wait=30")
    assert refused.status == 429 and refused.headers.get("Retry-After")
    assert json.loads(refused.body)["error"]["code"] == "too_many_waiters"
    # Bob is under his share (4 places / 2 tenants): he waits, and Alice's oldest wait answers 429 now.
    bobs = await submit(api, BOB)
    bob = await parked(api.call("GET", f"/v1/jobs/{bobs}?wait=30", token=BOB))
    given_up = await asyncio.wait_for(alice[0], 1.0)
    assert given_up.status == 429
    assert not any(t.done() for t in alice[1:])
    # Bob's Prefer wait on a new job is a wait too, not a 202 at once.
    prefer = await parked(api.call("POST", "/v1/jobs", json_body={"text": "hi", "model": "tone"}, token=BOB,
                                   headers={"Prefer": "wait=30"}))
    waiters = api.shards.services["shard-0"].waiters
    assert waiters.held_by("bob") == 2 and waiters.held_by("alice") == 2
    for task in (*alice[1:], bob, prefer):
        task.cancel()
    await asyncio.gather(*alice[1:], bob, prefer, return_exceptions=True)


async def test_the_speech_route_of_a_tenant_under_its_share_waits_when_another_holds_every_place() -> None:
    # Alice holds every place with ?wait; Bob's /v1/audio/speech waits for his audio (it took a place
    # from Alice), never a 504 at once.
    api = build_api(shard_count=1, max_waiters_per_shard=4)
    job = await submit(api)
    alice = [await parked(api.call("GET", f"/v1/jobs/{job}?wait=30")) for _ in range(4)]
    speech = await parked(api.call("POST", "/v1/audio/speech", token=BOB,
                                   json_body={"model": "tone", "input": "hello", "voice": "alloy"}))
    waiters = api.shards.services["shard-0"].waiters
    assert waiters.held_by("bob") == 1 and waiters.held_by("alice") == 3
    assert (await asyncio.wait_for(alice[0], 1.0)).status == 429
    for task in (*alice[1:], speech):
        task.cancel()
    await asyncio.gather(*alice[1:], speech, return_exceptions=True)


async def test_a_prefer_wait_with_no_place_is_a_plain_202() -> None:
    api = build_api(shard_count=1, max_waiters_per_shard=1)
    job = await submit(api)
    holder = await parked(api.call("GET", f"/v1/jobs/{job}?wait=30"))
    reply = await api.call("POST", "/v1/jobs", json_body={"text": "hi", "model": "tone"}, headers={"Prefer": "wait=30"})
    assert reply.status == 202 and "Preference-Applied" not in reply.headers and reply.headers.get("Location")
    holder.cancel()
    await asyncio.gather(holder, return_exceptions=True)


async def test_non_ascii_digits_are_a_400_not_a_500() -> None:
    api = build_api(shard_count=1)
    job = await submit(api)
    for value in ("²", "١٢", "1_0", "+5", " 5", "٣"):
        reply = await api.call("GET", f"/v1/jobs/{job}?wait={value}")
        assert reply.status == 400 and json.loads(reply.body)["error"]["field"] == "wait", value
        listing = await api.call("GET", f"/v1/jobs?limit={value}")
        assert listing.status == 400 and json.loads(listing.body)["error"]["field"] == "limit", value
