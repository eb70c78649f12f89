"""The shard's outbox (shared/jobs/outbox.py): a job's queue message is written with the job,
sent after the commit, deleted once sent, and re-sent by the shard itself when it was not."""

from __future__ import annotations

from typing import Any

from shared.jobs.outbox import RESEND_AFTER_SECONDS, create_outbox_schema
from shared.jobs.rpc import ShardService
from shared.jobs.shard import (
    Claim,
    Complete,
    Create,
    CreateWithinBudget,
    Fail,
    FindIdempotent,
    Get,
    JobShard,
    Repair,
    RepairItem,
)
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemoryAlarm, MemoryQueue, MemoryShards, MemorySql


def job(job_id: str = "a" * 32, **fields: Any) -> JobRecord:
    base: dict[str, Any] = {
        "job_id": job_id, "tenant": "alice", "status": JobStatus.QUEUED, "text": "hello", "model": "tone",
        "voice_id": "default", "format": "wav", "created_at": 1_800_000_000.0, "updated_at": 1_800_000_000.0,
        "ttl_seconds": 3600,
    }
    return JobRecord(**{**base, **fields})


def bodies(queue: MemoryQueue) -> list[str]:
    return [body["jobId"] for body, _ in queue.sent]


async def test_a_created_job_has_its_message_sent_and_its_outbox_row_deleted(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=job()))
    assert shards.queue.sent == [({"v": 1, "jobId": "a" * 32, "shard": "shard-0"}, 0)]
    assert shards.shards["shard-0"].outbox.pending() == []


async def test_the_message_of_a_failed_send_is_resent_by_the_alarm(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    shards.queue.fail_sends = 1
    created = await shards.client.call(Create(record=job()))
    assert created.status is JobStatus.QUEUED  # the job is accepted all the same
    assert shards.queue.sent == []
    outbox = shards.shards["shard-0"].outbox
    [row] = outbox.pending()
    assert row.attempts == 1 and row.due_at > clock()
    assert shards.alarms["shard-0"].at is not None and shards.alarms["shard-0"].at <= row.due_at
    assert await shards.ring_due() == 0  # not due yet
    clock.advance(row.due_at - clock())
    assert await shards.ring_due() == 1
    assert bodies(shards.queue) == ["a" * 32] and outbox.pending() == []


async def test_a_crash_between_the_commit_and_the_send_is_resent_after_a_restart(clock: FakeClock) -> None:
    # GIVEN a job committed by a shard whose process died before sending its message
    sql = MemorySql()
    JobShard(sql, clock).create(job())
    # WHEN the shard comes back (a new object over the same storage) and resumes its alarm
    queue, alarm = MemoryQueue(), MemoryAlarm()
    service = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    await service.outbox.resume()
    # THEN the alarm rings RESEND_AFTER_SECONDS after the commit and sends the message
    assert alarm.at == clock() + RESEND_AFTER_SECONDS
    clock.advance(RESEND_AFTER_SECONDS)
    assert await service.alarm() == 1
    assert bodies(queue) == ["a" * 32]


async def test_an_idempotent_replay_sends_the_unconfirmed_message_at_once(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    shards.stub("shard-0")
    shards.shards["shard-0"].create(job(idempotency_key="k" * 64))  # committed, never sent (a crash)
    found = await shards.client.call(FindIdempotent(tenant="alice", idempotency_key="k" * 64), shard="shard-0")
    assert found is not None and bodies(shards.queue) == ["a" * 32]  # sent now, not at the alarm
    again = await shards.client.call(FindIdempotent(tenant="alice", idempotency_key="k" * 64), shard="shard-0")
    assert again is not None and bodies(shards.queue) == ["a" * 32]  # once: its row is gone


async def test_a_repeat_of_a_create_sends_the_unconfirmed_message(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    shards.stub("shard-0")
    shards.shards["shard-0"].create(job())
    await shards.client.call(Create(record=job()))
    assert bodies(shards.queue) == ["a" * 32]


async def test_a_refused_create_records_no_message(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(CreateWithinBudget(record=job("a" * 32), budget=1))
    try:
        await shards.client.call(CreateWithinBudget(record=job("b" * 32), budget=1))
    except Exception:  # noqa: BLE001 - ShardFullError, what this test is not about
        pass
    assert bodies(shards.queue) == ["a" * 32] and shards.shards["shard-0"].outbox.pending() == []


async def test_repairs_record_their_messages_and_the_shard_sends_them(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=job("a" * 32)))
    await shards.client.call(Create(record=job("b" * 32)))
    await shards.client.call(Claim(job_id="b" * 32, lease_seconds=30.0))
    shards.queue.sent.clear()
    clock.advance(1000)
    queued = await shards.client.call(Get(job_id="a" * 32))
    processing = await shards.client.call(Get(job_id="b" * 32))
    assert queued is not None and processing is not None
    items = [
        RepairItem(job_id="a" * 32, expected_updated_at=queued.updated_at, action="resend"),
        RepairItem(job_id="b" * 32, expected_updated_at=processing.updated_at, action="requeue", error="lapsed"),
    ]
    repaired = await shards.client.call(Repair(items=items), shard="shard-0")
    assert {r.job_id for r in repaired} == {"a" * 32, "b" * 32}
    assert sorted(bodies(shards.queue)) == ["a" * 32, "b" * 32]


async def test_a_storage_failure_after_the_send_does_not_fail_the_create(clock: FakeClock) -> None:
    class BrokenDelete(MemorySql):
        def exec(self, query: str, *params: Any) -> list[dict[str, Any]]:
            if query.startswith("DELETE FROM outbox"):
                raise OSError("database or disk is full")
            return super().exec(query, *params)

    queue = MemoryQueue()
    service = ShardService(JobShard(BrokenDelete(), clock), producers={"jobs": queue}, alarm=MemoryAlarm())
    reply = await service.handle_async("create", {"record": job().to_rpc()})
    assert reply["ok"] and bodies(queue) == ["a" * 32]
    assert len(service.outbox.pending()) == 1  # sent but unmarked: sent again later (harmless)


def test_the_outbox_table_is_added_to_an_existing_shard() -> None:
    sql = MemorySql()
    sql.exec("CREATE TABLE jobs (job_id TEXT PRIMARY KEY)")
    assert not sql.exec("SELECT name FROM sqlite_master WHERE name = 'outbox'")
    create_outbox_schema(sql)
    create_outbox_schema(sql)  # idempotent
    assert sql.exec("SELECT name FROM sqlite_master WHERE name = 'outbox'")


async def test_a_finished_jobs_webhook_is_recorded_in_the_transition_and_sent_by_the_shard(clock: FakeClock) -> None:
    from shared.webhooks import WebhookNotifier

    hooks = MemoryQueue()
    shards = MemoryShards(clock, shard_count=1, webhook_queue=hooks)
    await shards.client.call(Create(record=job(webhook_url="https://hooks.example/x")))
    await shards.client.call(Claim(job_id="a" * 32, lease_seconds=30.0))
    done = await shards.client.call(
        Complete(job_id="a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=1, etag="e", characters=5)
    )
    assert done.webhook_status == "pending"
    assert hooks.sent == [({"v": 1, "kind": "webhook", "jobId": "a" * 32, "shard": "shard-0", "event": "completed"}, 0)]
    await WebhookNotifier(hooks, shards.client).job_finished(done)  # the consumer's announcement: already made
    assert len(hooks.sent) == 1


async def test_a_job_failed_by_the_reaper_keeps_its_webhook_whatever_dies_after_the_commit(clock: FakeClock) -> None:
    # GIVEN a stuck job that wants its webhook, failed by a repair whose process dies before sending
    sql = MemorySql()
    shard = JobShard(sql, clock)
    shard.outbox.connect({"jobs": MemoryQueue(), "webhooks": MemoryQueue()}, None)  # this runtime sends webhooks
    shard.create(job(webhook_url="https://hooks.example/x"))
    stored = shard.get("a" * 32)
    assert stored is not None
    failed = shard.repair("a" * 32, stored.updated_at, "fail", "stuck")
    assert failed is not None and failed.webhook_status == "pending"
    # WHEN the shard comes back: THEN its alarm sends the webhook (and the job's own message)
    hooks, alarm = MemoryQueue(), MemoryAlarm()
    service = ShardService(JobShard(sql, clock), producers={"jobs": MemoryQueue(), "webhooks": hooks}, alarm=alarm)
    await service.outbox.resume()
    clock.advance(RESEND_AFTER_SECONDS)
    await service.alarm()
    assert [body["event"] for body, _ in hooks.sent] == ["failed"]


async def test_without_the_webhook_queue_a_shard_leaves_webhooks_to_the_notifier(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)  # no webhook producer: as a runtime that binds none
    await shards.client.call(Create(record=job(webhook_url="https://hooks.example/x")))
    failed = await shards.client.call(Fail(job_id="a" * 32, error="boom"))
    assert failed.webhook_status is None


async def test_a_repair_page_goes_out_in_one_send_batch(clock: FakeClock) -> None:
    class CountingQueue(MemoryQueue):
        batches: int = 0

        async def send_batch(self, bodies, *, delay_seconds: int = 0) -> None:  # type: ignore[no-untyped-def]
            self.batches += 1
            await super().send_batch(bodies, delay_seconds=delay_seconds)

    queue = CountingQueue()
    shards = MemoryShards(clock, shard_count=1, queue=queue)
    ids = [f"{n:032x}" for n in range(150)]
    for job_id in ids:
        await shards.client.call(Create(record=job(job_id)))
    queue.sent.clear()
    clock.advance(1000)
    stored = await shards.client.lookup(ids)
    items = [RepairItem(job_id=i, expected_updated_at=stored[i].updated_at, action="resend") for i in ids[:100]]
    await shards.client.call(Repair(items=items), shard="shard-0")
    assert queue.batches == 1 and sorted(bodies(queue)) == sorted(ids[:100])


async def test_a_job_created_completed_from_the_synthesis_cache_has_no_message_but_its_webhook(
    clock: FakeClock,
) -> None:
    hooks = MemoryQueue()
    shards = MemoryShards(clock, shard_count=1, webhook_queue=hooks)
    completed = job(
        status=JobStatus.COMPLETED, completed_at=clock(), expires_at=clock() + 3600, audio_key="k", etag="e",
        size_bytes=1, mime_type="audio/wav", webhook_url="https://hooks.example/x", cache_scope="global",
        cache_reused=1, cache_total=1,
    )
    # Not in flight: admitted whatever the tenant's budget holds.
    await shards.client.call(CreateWithinBudget(record=job("b" * 32), budget=1))
    stored = await shards.client.call(CreateWithinBudget(record=completed, budget=1))
    assert stored.status is JobStatus.COMPLETED and stored.webhook_status == "pending"
    assert bodies(shards.queue) == ["b" * 32]  # the queued job's message only
    assert [body["event"] for body, _ in hooks.sent] == ["completed"]
    assert shards.shards["shard-0"].outbox.pending() == []


async def test_completion_records_the_cache_counts(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=job(cache_scope="global")))
    await shards.client.call(Claim(job_id="a" * 32, lease_seconds=30.0))
    done = await shards.client.call(
        Complete(job_id="a" * 32, audio_key="k", mime_type="audio/wav", size_bytes=1, etag="e", characters=5,
                 cache=[9, 10, 27_603])
    )
    assert (done.cache_reused, done.cache_total, done.cache_saved_chars) == (9, 10, 27_603)
    again = await shards.client.call(Get(job_id="a" * 32))
    assert again is not None and (again.cache_reused, again.cache_total) == (9, 10)
