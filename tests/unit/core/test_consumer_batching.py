"""A consumer batch claims and completes its jobs with one Durable Object request per shard,
and still settles each message on its own: one job's refusal or failure is that job's alone."""

from __future__ import annotations

import asyncio
import io
from collections import Counter

import pytest

from shared.config import Settings
from shared.consumer import process_batch
from shared.consumer_batching import claim_items_per_request, claim_window
from shared.dependencies import Dependencies
from shared.errors import TransientSynthesisError
from shared.jobs.shard import MAX_BATCH_ITEMS, Claim, Create, Delete, Get
from shared.jobs.sharding import shard_for
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Retry
from shared.platform_limits import RPC_MAX_BYTES
from shared.ports import IncomingMessage
from tests.fakes import FakeClock, MemoryShards, ScriptedSynthesizer, bootstrap_test_app

SHARDS = 4


@pytest.fixture
def shards(clock: FakeClock) -> MemoryShards:
    return MemoryShards(clock, shard_count=SHARDS)


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: ScriptedSynthesizer) -> Dependencies:
    settings = Settings(retry_base_seconds=10, lease_seconds=120, shard_count=SHARDS)
    return bootstrap_test_app(settings, clock=clock, shards=shards, synthesizer=synth, log_stream=io.StringIO())


def job_ids(n: int) -> list[str]:
    return [f"{i:032x}" for i in range(n)]


async def queue_jobs(deps: Dependencies, clock: FakeClock, ids: list[str]) -> list[IncomingMessage]:
    for job_id in ids:
        record = JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text=f"job {job_id[-2:]}",
                           model="tone", format="wav", created_at=clock.now, updated_at=clock.now, ttl_seconds=3600)
        await deps.jobs.call(Create(record=record))
    return [IncomingMessage(id=f"m-{job_id}", body={"v": 1, "jobId": job_id, "shard": shard_for(job_id, SHARDS)},
                            attempts=1) for job_id in ids]


def methods(shards: MemoryShards, since: int) -> Counter[str]:
    return Counter(method for _, method in shards.calls[since:])


async def test_a_batch_is_one_claim_and_one_completion_request_per_shard(
    deps: Dependencies, clock: FakeClock, shards: MemoryShards
) -> None:
    ids = job_ids(10)
    messages = await queue_jobs(deps, clock, ids)
    mark = len(shards.calls)
    outcome = await process_batch(messages, deps)
    assert outcome.outcomes == {m.id: Ack() for m in messages}
    touched = len({shard_for(j, SHARDS) for j in ids})
    assert methods(shards, mark) == {"claimBatch": touched, "completeBatch": touched}
    for job_id in ids:
        job = await deps.jobs.call(Get(job_id=job_id))
        assert job is not None and job.status is JobStatus.COMPLETED


async def test_a_lone_job_is_one_claim_and_one_completion(
    deps: Dependencies, clock: FakeClock, shards: MemoryShards
) -> None:
    messages = await queue_jobs(deps, clock, job_ids(1))
    mark = len(shards.calls)
    assert (await process_batch(messages, deps)).outcomes == {messages[0].id: Ack()}
    assert methods(shards, mark) == {"claimBatch": 1, "completeBatch": 1}


async def test_a_job_its_shard_refuses_in_a_batched_claim_leaves_the_others_claimed(
    deps: Dependencies, clock: FakeClock, shards: MemoryShards
) -> None:
    ids = job_ids(8)
    messages = await queue_jobs(deps, clock, ids)
    held, gone = ids[0], ids[1]
    same_shard = [j for j in ids[2:] if shard_for(j, SHARDS) in {shard_for(held, SHARDS), shard_for(gone, SHARDS)}]
    assert same_shard, "the refused jobs share a request with others"
    await deps.jobs.call(Claim(job_id=held, lease_seconds=600, holder="another-delivery"))
    await deps.jobs.delete([gone])
    outcome = await process_batch(messages, deps)
    # The live lease: acked, and the job sent again to look when the lease ends.
    assert outcome.outcomes[f"m-{held}"] == Ack()
    [(body, delay)] = [(b, d) for b, d in shards.queue.sent if b["jobId"] == held and d > 0]  # type: ignore[index]
    assert 600 < delay <= 602
    assert outcome.outcomes[f"m-{gone}"] == Ack()  # no job: nothing to do
    for job_id in ids[2:]:
        assert outcome.outcomes[f"m-{job_id}"] == Ack()
        job = await deps.jobs.call(Get(job_id=job_id))
        assert job is not None and job.status is JobStatus.COMPLETED
    still = await deps.jobs.call(Get(job_id=held))
    assert still is not None and still.status is JobStatus.PROCESSING


async def test_each_message_is_settled_on_its_own(
    deps: Dependencies, clock: FakeClock, synth: ScriptedSynthesizer, shards: MemoryShards
) -> None:
    ids = job_ids(6)
    messages = await queue_jobs(deps, clock, ids)
    synth.errors.append(TransientSynthesisError("provider 503"))  # the first synthesis fails, the rest succeed
    outcome = await process_batch(messages, deps)
    retried = [m for m, o in outcome.outcomes.items() if isinstance(o, Retry)]
    assert len(retried) == 1 and sum(o == Ack() for o in outcome.outcomes.values()) == 5
    statuses = Counter([(await deps.jobs.call(Get(job_id=j))).status for j in ids])  # type: ignore[union-attr]
    assert statuses == {JobStatus.COMPLETED: 5, JobStatus.QUEUED: 1}


async def test_a_job_deleted_while_it_was_synthesized_fails_only_its_own_completion(
    deps: Dependencies, clock: FakeClock, shards: MemoryShards, synth: ScriptedSynthesizer
) -> None:
    ids = job_ids(4)
    messages = await queue_jobs(deps, clock, ids)
    doomed = ids[0]
    real = synth.synthesize

    async def delete_first(request):  # type: ignore[no-untyped-def]
        if not synth.calls:
            await deps.jobs.call(Delete(job_ids=[doomed]), shard=shard_for(doomed, SHARDS))
        return await real(request)

    synth.synthesize = delete_first  # type: ignore[method-assign]
    outcome = await process_batch(messages, deps)
    assert outcome.outcomes == {m.id: Ack() for m in messages}
    assert await deps.jobs.call(Get(job_id=doomed)) is None
    for job_id in ids[1:]:
        assert (await deps.jobs.call(Get(job_id=job_id))).status is JobStatus.COMPLETED  # type: ignore[union-attr]


def test_the_worst_case_request_stays_under_cloudflares_rpc_limit() -> None:
    for max_text_chars in (1, 100_000, 400_000):
        per_request = claim_items_per_request(max_text_chars)
        assert 1 <= per_request <= MAX_BATCH_ITEMS
        assert per_request * (4 * max_text_chars + 16 * 1024) <= RPC_MAX_BYTES
    assert claim_items_per_request(100_000) >= 10  # a default batch's claims on one shard: one request
    assert claim_window(100_000, 4) >= 10 and claim_window(400_000, 4) >= 4


async def test_a_failed_request_fails_its_own_items_only(clock: FakeClock, shards: MemoryShards) -> None:
    from shared.consumer_batching import ShardBatcher

    ids = job_ids(8)
    broken = shard_for(ids[0], SHARDS)

    async def send(shard: str, items: list[str]) -> list[JobRecord]:
        if shard == broken:
            raise ConnectionError("the request died")
        return [JobRecord(job_id=i, tenant="t", status=JobStatus.QUEUED, model="tone", format="wav",
                          created_at=0, updated_at=0, ttl_seconds=1) for i in items]

    batcher: ShardBatcher[str] = ShardBatcher(shards.client, send, ids, linger=5, most=MAX_BATCH_ITEMS)
    answers = await asyncio.gather(*(batcher.ask(i, i, i) for i in ids), return_exceptions=True)
    for job_id, answer in zip(ids, answers):
        if shard_for(job_id, SHARDS) == broken:
            assert isinstance(answer, ConnectionError)
        else:
            assert isinstance(answer, JobRecord) and answer.job_id == job_id
    assert batcher.requests == len({shard_for(i, SHARDS) for i in ids})


async def test_a_completion_does_not_wait_past_its_linger_for_a_member_still_at_work(shards: MemoryShards) -> None:
    from shared.consumer_batching import ShardBatcher

    sent: list[list[str]] = []

    async def send(shard: str, items: list[str]) -> list[JobRecord]:
        sent.append(items)
        return [JobRecord(job_id=i, tenant="t", status=JobStatus.QUEUED, model="tone", format="wav",
                          created_at=0, updated_at=0, ttl_seconds=1) for i in items]

    a, b = job_ids(2)
    batcher: ShardBatcher[str] = ShardBatcher(shards.client, send, [a, b], linger=0.01, most=MAX_BATCH_ITEMS)
    assert (await asyncio.wait_for(batcher.ask(a, a, a), 1)).job_id == a  # b is still at work: a goes alone
    batcher.leave(b)
    assert sent == [[a]]
