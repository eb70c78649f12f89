"""The shard's outbox (shared/jobs/outbox.py): a job's queue message is written with the job (a column
of its row; other messages an ``outbox`` row), sent after the commit, and re-sent by the shard itself
when it may not have been."""

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


async def test_a_created_job_has_its_message_sent_and_none_left_pending(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=job()))
    assert shards.queue.sent == [({"v": 1, "jobId": "a" * 32, "shard": "shard-0"}, 0)]
    assert shards.shards["shard-0"].outbox.pending() == []
    assert shards.shards["shard-0"].outbox.table_rows() == []  # no outbox row: the job's own row holds it


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


async def test_a_storage_failure_after_a_failed_send_does_not_fail_the_create(clock: FakeClock) -> None:
    class BrokenReschedule(MemorySql):
        def exec(self, query: str, *params: Any) -> list[dict[str, Any]]:
            if query.startswith("UPDATE jobs SET send_due_at"):
                raise OSError("database or disk is full")
            return super().exec(query, *params)

    queue, alarm = MemoryQueue(fail_sends=1), MemoryAlarm()
    service = ShardService(JobShard(BrokenReschedule(), clock), producers={"jobs": queue}, alarm=alarm)
    reply = await service.handle_async("create", {"record": job().to_rpc()})
    assert reply["ok"] and bodies(queue) == []
    [row] = service.outbox.pending()  # unsent, not rescheduled: due at its first due time
    assert row.due_at == clock() + RESEND_AFTER_SECONDS and alarm.at is not None and alarm.at <= row.due_at
    clock.advance(RESEND_AFTER_SECONDS)
    assert await service.alarm() == 1 and bodies(queue) == ["a" * 32]


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
    # WHEN the shard comes back: THEN its alarm sends the webhook (the failed job needs no message)
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


# --- the job's message on its own row: 3 rows written a job, re-sent by the alarm when in doubt -------


class MeteredSql(MemorySql):
    """MemorySql counting rows written as Cloudflare bills them (rows changed, like the local meter)."""

    def written(self) -> int:
        return int(self._db.total_changes)


class Evicted(BaseException):
    """The object dies where this is raised (not an ``Exception``: nothing in the shard catches it)."""


class DyingQueue(MemoryQueue):
    async def send(self, body: Any, *, delay_seconds: int = 0) -> None:
        raise Evicted


def done(job_id: str = "a" * 32) -> Complete:
    return Complete(job_id=job_id, audio_key="k", mime_type="audio/wav", size_bytes=1, etag="e", characters=5)


async def test_a_job_writes_three_rows_create_claim_complete_and_nothing_once_its_send_is_confirmed(
    clock: FakeClock,
) -> None:
    sql, queue, alarm = MeteredSql(), MemoryQueue(), MemoryAlarm()
    service = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    written = []
    for method, payload in [
        ("create", {"record": job().to_rpc()}),
        ("claim", {"job_id": "a" * 32, "lease_seconds": 30.0, "holder": "m1"}),
        ("complete", done().model_dump(exclude={"runs"})),
    ]:
        before = sql.written()
        reply = await service.handle_async(method, payload)
        assert reply["ok"], reply
        written.append(sql.written() - before)
    assert bodies(queue) == ["a" * 32]
    assert written == [1, 1, 1]
    # The alarm armed for the send's due time rings to find the message confirmed: nothing sent or written.
    before = sql.written()
    clock.advance(RESEND_AFTER_SECONDS)
    assert await service.alarm() == 0
    assert sql.written() == before and bodies(queue) == ["a" * 32]


async def test_a_backlogged_job_whose_send_was_confirmed_is_not_resent_and_costs_no_write(clock: FakeClock) -> None:
    # GIVEN a job sent and confirmed, still queued long past its send's due time (a slow consumer)
    sql, queue, alarm = MeteredSql(), MemoryQueue(), MemoryAlarm()
    service = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    await service.handle_async("create", {"record": job().to_rpc()})
    before = sql.written()
    for _ in range(10):
        clock.advance(60)
        # WHEN the alarm rings (armed by other jobs' sends): THEN nothing is resent, nothing written
        assert await service.alarm() == 0
    assert bodies(queue) == ["a" * 32] and sql.written() == before
    assert service.outbox.next_due() is None  # and the alarm is not kept ringing for it


async def test_a_crash_between_the_commit_and_the_send_is_recovered_by_the_alarm_set_before_the_send(
    clock: FakeClock,
) -> None:
    # GIVEN an object that committed a job and died while sending its message (the alarm is durable, as
    # on Cloudflare: it outlives the object)
    sql, alarm = MemorySql(), MemoryAlarm()
    dying = ShardService(JobShard(sql, clock), producers={"jobs": DyingQueue()}, alarm=alarm)
    created_at = clock()
    try:
        await dying.handle_async("create", {"record": job().to_rpc()})
    except Evicted:
        pass
    # THEN the alarm was set for the send's due time before the send was tried
    assert alarm.at == created_at + RESEND_AFTER_SECONDS
    # WHEN it rings in a new object over the same storage (nothing resumed by hand)
    queue = MemoryQueue()
    fresh = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    clock.advance(RESEND_AFTER_SECONDS)
    alarm.at = None
    assert await fresh.alarm() == 1
    # THEN the message is sent, and the job runs
    assert bodies(queue) == ["a" * 32]
    claimed = await fresh.handle_async("claim", {"job_id": "a" * 32, "lease_seconds": 30.0, "holder": "m1"})
    assert claimed["ok"] and claimed["result"]["status"] == "processing"


async def test_a_duplicate_sent_after_an_eviction_is_harmless(clock: FakeClock) -> None:
    # GIVEN a job sent and confirmed by an object that was then evicted, still queued past its due time
    sql = MeteredSql()
    first = ShardService(JobShard(sql, clock), producers={"jobs": MemoryQueue()}, alarm=MemoryAlarm())
    await first.handle_async("create", {"record": job().to_rpc()})
    queue, alarm = MemoryQueue(), MemoryAlarm()
    second = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    clock.advance(RESEND_AFTER_SECONDS)
    # WHEN the new object's alarm rings: it cannot tell, so it sends the message again (one row written:
    # the next due time, pushed back by the backoff)
    before = sql.written()
    assert await second.alarm() == 1
    assert bodies(queue) == ["a" * 32] and sql.written() - before == 1
    assert alarm.at is None  # sent and confirmed now: nothing to ring for
    # THEN the two deliveries synthesize it once: the first claim wins, the duplicate finds the lease held,
    # and once completed a late duplicate finds it final and writes nothing
    first_claim = await second.handle_async("claim", {"job_id": "a" * 32, "lease_seconds": 30.0, "holder": "m1"})
    duplicate = await second.handle_async("claim", {"job_id": "a" * 32, "lease_seconds": 30.0, "holder": "m2"})
    assert first_claim["ok"] and not duplicate["ok"] and duplicate["error"]["code"] == "lease_held"
    assert (await second.handle_async("complete", done().model_dump(exclude={"runs"})))["ok"]
    before = sql.written()
    late = await second.handle_async("claim", {"job_id": "a" * 32, "lease_seconds": 30.0, "holder": "m2"})
    assert late["ok"] and late["result"]["status"] == "completed" and sql.written() == before
    # and a claimed job is never sent again, whatever object rings
    third = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=MemoryAlarm())
    clock.advance(3600)
    assert await third.alarm() == 0 and bodies(queue) == ["a" * 32]


async def test_resends_of_a_backlogged_job_across_evictions_are_spaced_by_the_backoff(clock: FakeClock) -> None:
    # GIVEN a job that stays queued for an hour, on an object evicted after every alarm (the worst case)
    sql = MemorySql()
    queue = MemoryQueue()
    JobShard(sql, clock).create(job())  # committed; its send's fate unknown to every later object
    start = clock()
    while True:
        alarm = MemoryAlarm()
        service = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
        await service.outbox.resume()
        assert alarm.at is not None
        if alarm.at > start + 3600:
            break
        clock.advance(max(alarm.at - clock(), 0.0))
        await service.alarm()
    # THEN it was sent once per backoff step at most: 5 s, then 2, 4, ... 256 s apart, then every 300 s
    assert len(queue.sent) == max_resends_within(3600.0) == 19
    assert max_resends_within(600.0) == 9


def max_resends_within(seconds: float) -> int:
    """Sends of one job's message in its first ``seconds`` queued, if every alarm meets a new object."""
    from shared.jobs.outbox import backoff

    at, n = RESEND_AFTER_SECONDS, 0
    while at <= seconds:
        n += 1
        at += backoff(n)
    return n


def test_an_existing_shard_gains_the_send_columns() -> None:
    from shared.jobs.schema import create_schema

    sql = MemorySql()
    sql.exec("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, status TEXT NOT NULL)")
    create_schema(sql)
    columns = {row["name"] for row in sql.exec("PRAGMA table_info(jobs)")}
    assert {"send_due_at", "send_attempts"} <= columns


async def test_a_synthesis_message_left_in_the_outbox_table_by_an_older_deploy_is_still_sent(
    clock: FakeClock,
) -> None:
    sql = MemorySql()
    JobShard(sql, clock)
    sql.exec(
        "INSERT INTO outbox (message_id, queue, job_id, body, created_at, due_at) VALUES (?, ?, ?, ?, ?, ?)",
        "m" * 32, "jobs", "a" * 32, '{"v":1,"jobId":"' + "a" * 32 + '","shard":"shard-0"}', clock(), clock(),
    )
    queue, alarm = MemoryQueue(), MemoryAlarm()
    service = ShardService(JobShard(sql, clock), producers={"jobs": queue}, alarm=alarm)
    await service.outbox.resume()
    assert alarm.at == clock()
    assert await service.alarm() == 1
    assert bodies(queue) == ["a" * 32] and service.outbox.table_rows() == []


async def test_a_requeued_job_is_sent_again_even_if_its_first_send_was_confirmed(clock: FakeClock) -> None:
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=job()))
    await shards.client.call(Claim(job_id="a" * 32, lease_seconds=30.0))
    clock.advance(1000)
    stale = await shards.client.call(Get(job_id="a" * 32))
    assert stale is not None
    item = RepairItem(job_id="a" * 32, expected_updated_at=stale.updated_at, action="requeue", error="lapsed")
    await shards.client.call(Repair(items=[item]), shard="shard-0")
    assert bodies(shards.queue) == ["a" * 32, "a" * 32]
    # its new send failed? the alarm has it: make the queue refuse, requeue again, and ring
    await shards.client.call(Claim(job_id="a" * 32, lease_seconds=30.0))
    clock.advance(1000)
    stale = await shards.client.call(Get(job_id="a" * 32))
    assert stale is not None
    shards.queue.fail_sends = 1
    item = RepairItem(job_id="a" * 32, expected_updated_at=stale.updated_at, action="requeue", error="lapsed")
    await shards.client.call(Repair(items=[item]), shard="shard-0")
    assert len(shards.queue.sent) == 2
    clock.advance(60)
    assert await shards.ring_due() == 1 and len(shards.queue.sent) == 3


async def test_the_memory_of_confirmed_sends_forgets_a_job_claimed_while_its_send_was_confirmed(
    clock: FakeClock,
) -> None:
    # GIVEN a job whose consumer claimed it before the shard heard back from the queue
    shards = MemoryShards(clock, shard_count=1)

    class ClaimingQueue(MemoryQueue):
        async def send(self, body: Any, *, delay_seconds: int = 0) -> None:
            await super().send(body, delay_seconds=delay_seconds)
            await shards.client.call(Claim(job_id=body["jobId"], lease_seconds=30.0, holder="m1"))

    shards.producers["jobs"] = shards.queue = ClaimingQueue()
    await shards.client.call(Create(record=job()))
    outbox = shards.shards["shard-0"].outbox
    assert outbox._confirmed == {"a" * 32}  # noqa: SLF001 - what this test is about
    # WHEN the alarm rings: THEN it forgets it (the memory holds queued jobs only), and sends nothing
    clock.advance(RESEND_AFTER_SECONDS)
    assert await shards.ring_due() == 0
    assert outbox._confirmed == set()  # noqa: SLF001
    assert bodies(shards.queue) == ["a" * 32]
