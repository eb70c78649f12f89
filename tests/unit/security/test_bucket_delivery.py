"""Delivery to a customer's presigned PUT URL (shared/delivery.py), over the in-memory fakes."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from shared.consumer import process_batch
from shared.delivery import (
    INVOCATION_BUDGET_SECONDS, MAX_CONCURRENT_UPLOADS, deliver_audio, process_delivery_batch, scrub,
)
from shared.dependencies import Dependencies
from shared.errors import HttpConnectionError, HttpTimeoutError, PermanentSynthesisError
from shared.jobs.outbox import WEBHOOKS
from shared.jobs.shard import Get, RecordDelivery
from shared.jobs.sharding import shard_for
from shared.outcomes import Ack, Retry
from shared.ports import BlobBody, IncomingMessage
from shared.security.delivery_headers import MAX_HEADERS, check_delivery_headers
from tests.fakes import MemoryQueue, ScriptedSynthesizer, bootstrap_test_app
from tests.unit.security.conftest import Api, body_of, build_api

BUCKET = "https://bucket.example.com/audio/out.wav?X-Amz-Signature=deadbeef0123"


@dataclass
class Put:
    url: str
    headers: dict[str, str]
    body: bytes
    length: int
    largest_piece: int


@dataclass
class FakeUploader:
    """Reads the body piece by piece as a real upload would, then answers as scripted (then 200)."""

    script: list[int | Exception] = field(default_factory=list)
    puts: list[Put] = field(default_factory=list)

    async def put(self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float) -> int:
        pieces = [p async for p in body.pieces(64 * 1024)]
        self.puts.append(Put(url, dict(headers), b"".join(pieces), length, max((len(p) for p in pieces), default=0)))
        step = self.script.pop(0) if self.script else 200
        if isinstance(step, Exception):
            raise step
        return step


@dataclass
class Rig:
    api: Api
    hooks: MemoryQueue
    deps: Dependencies  # the synth_consumer's: synthesis and deliveries
    uploader: FakeUploader
    synth: ScriptedSynthesizer
    logs: io.StringIO

    async def submit(self, **fields: object) -> str:
        body = {"text": "hello bucket " * 1000, "deliver": {"url": BUCKET}, **fields}
        reply = await self.api.call("POST", "/v1/jobs", json_body=body)
        assert reply.status == 202, reply.body
        return str(body_of(reply)["jobId"])

    async def synthesize(self, job_id: str) -> object:
        count = self.api.deps.settings.shard_count
        message = IncomingMessage("m-" + job_id, {"v": 1, "jobId": job_id, "shard": shard_for(job_id, count)}, 1)
        return (await process_batch([message], self.deps)).outcomes[message.id]

    def messages(self, kind: str) -> list[dict]:
        return [b for b, _ in self.hooks.sent if isinstance(b, dict) and b.get("kind") == kind]

    async def deliver(self, attempts: int = 1) -> object:
        [body] = self.messages("delivery")
        return await deliver_audio(IncomingMessage("d", body, attempts), self.deps)

    async def job(self, job_id: str) -> dict:
        return body_of(await self.api.call("GET", f"/v1/jobs/{job_id}"))


@pytest.fixture
def rig() -> Rig:
    api = build_api(delivery_max_attempts=3, delivery_retry_base_seconds=30)
    hooks = MemoryQueue()
    api.shards.producers[WEBHOOKS] = hooks  # before the first shard is made: its outbox sends here too
    synth, uploader, logs = ScriptedSynthesizer(), FakeUploader(), io.StringIO()
    deps = bootstrap_test_app(
        api.deps.settings, clock=api.clock, shards=api.shards, bucket=api.bucket, synthesizer=synth,
        uploader=uploader, log_stream=logs,
    ).acting_as("synth_consumer")
    return Rig(api, hooks, deps, uploader, synth, logs)


async def test_completion_queues_one_delivery_that_puts_the_audio_as_stored(rig: Rig) -> None:
    job_id = await rig.submit(deliver={"url": BUCKET, "headers": {"x-amz-meta-owner": "me"}})
    assert (await rig.job(job_id))["delivery"] == {"state": "pending", "attempts": 0}
    assert await rig.synthesize(job_id) == Ack()
    job = await rig.job(job_id)
    assert job["status"] == "completed" and job["delivery"] == {"state": "pending", "attempts": 0}
    assert rig.uploader.puts == []  # queued, never inline in the job's completion
    assert rig.messages("delivery") == [{"v": 1, "kind": "delivery", "jobId": job_id,
                                         "shard": shard_for(job_id, rig.api.deps.settings.shard_count)}]
    assert await rig.deliver() == Ack()
    [put] = rig.uploader.puts
    stored = rig.api.bucket.objects[next(iter(rig.api.bucket.objects))]
    assert put.url == BUCKET and put.body == stored.data and put.length == len(stored.data)
    assert put.largest_piece <= 64 * 1024 < len(stored.data)  # streamed in pieces, never whole
    assert put.headers == {"x-amz-meta-owner": "me", "Content-Type": "audio/wav", "Content-Length": str(put.length)}
    assert (await rig.job(job_id))["delivery"] == {"state": "delivered", "attempts": 1}


async def test_failures_retry_with_backoff_and_the_job_stays_completed(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    rig.uploader.script = [503, HttpTimeoutError("PUT: no response within 300 s")]
    assert await rig.deliver() == Retry(30)
    job = await rig.job(job_id)
    assert job["status"] == "completed"
    assert job["delivery"] == {"state": "pending", "attempts": 1, "lastError": "HTTP 503"}
    assert await rig.deliver(2) == Retry(60)
    assert "HttpTimeoutError" in (await rig.job(job_id))["delivery"]["lastError"]
    assert await rig.deliver(3) == Ack()
    job = await rig.job(job_id)
    assert job["status"] == "completed" and job["delivery"] == {"state": "delivered", "attempts": 3}
    assert await rig.deliver(4) == Ack()  # a duplicate message: settled, nothing sent
    assert len(rig.uploader.puts) == 3


async def test_a_receiver_that_always_fails_ends_failed_at_the_bound(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    rig.uploader.script = [500, 500, 302]
    assert isinstance(await rig.deliver(), Retry)
    assert isinstance(await rig.deliver(), Retry)
    assert await rig.deliver() == Ack()  # the third: the bound (a redirect is not followed)
    job = await rig.job(job_id)
    assert job["status"] == "completed"
    assert job["delivery"] == {"state": "failed", "attempts": 3, "lastError": "HTTP 302"}


async def test_the_url_never_reaches_an_error_a_log_or_a_view(rig: Rig) -> None:
    job_id = await rig.submit(deliver={"url": BUCKET, "headers": {"authorization": "Bearer hunter2"}})
    await rig.synthesize(job_id)
    rig.uploader.script = [HttpConnectionError(f"PUT {BUCKET}: refused"), HttpConnectionError(f"to {BUCKET.split('?')[0]}")]
    await rig.deliver()
    first = (await rig.job(job_id))["delivery"]["lastError"]
    await rig.deliver()
    second = (await rig.job(job_id))["delivery"]["lastError"]
    assert first == "HttpConnectionError: PUT <deliver.url>: refused"
    assert second == "HttpConnectionError: to <deliver.url>"
    listing = body_of(await rig.api.call("GET", "/v1/jobs"))
    shown = json.dumps([await rig.job(job_id), listing]) + rig.logs.getvalue() + rig.api.logs.getvalue()
    for secret in ("deadbeef0123", "bucket.example.com", "hunter2"):
        assert secret not in shown
    assert "delivery_retry" in rig.logs.getvalue()


async def test_a_job_that_does_not_complete_has_nothing_to_deliver(rig: Rig) -> None:
    job_id = await rig.submit()
    rig.synth.errors = [PermanentSynthesisError("no voice")]
    await rig.synthesize(job_id)
    job = await rig.job(job_id)
    assert job["status"] == "failed"
    assert job["delivery"] == {"state": "failed", "attempts": 0, "lastError": "the job failed: nothing to deliver"}
    assert rig.messages("delivery") == []


async def test_the_end_of_a_delivery_is_a_webhook_event(rig: Rig) -> None:
    job_id = await rig.submit(webhookUrl="https://hooks.example.com/tts")
    await rig.synthesize(job_id)
    assert [m["event"] for m in rig.messages("webhook")] == ["completed"]
    await rig.deliver()
    assert [m["event"] for m in rig.messages("webhook")] == ["completed", "delivery"]
    only_final = await rig.submit(webhookUrl="https://hooks.example.com/tts", webhookEvents=["completed"])
    await rig.synthesize(only_final)
    before = len(rig.messages("webhook"))
    [_, body] = rig.messages("delivery")
    await deliver_audio(IncomingMessage("d2", body, 1), rig.deps)
    assert len(rig.messages("webhook")) == before  # not asked for


async def test_submit_refuses_bad_targets_and_headers(rig: Rig) -> None:
    cases = [
        ({"url": "https://10.0.0.7/b"}, "deliver.url", "unsafe_deliver_url"),
        ({"url": "http://bucket.example.com/b"}, "deliver.url", "unsafe_deliver_url"),
        ({"url": "https://user:pw@bucket.example.com/b"}, "deliver.url", "unsafe_deliver_url"),
        ({"url": BUCKET, "headers": {"Host": "x.example"}}, "deliver.headers", "validation_error"),
        ({"url": BUCKET, "other": 1}, "deliver.other", "validation_error"),
    ]
    for deliver, where, code in cases:
        reply = await rig.api.call("POST", "/v1/jobs", json_body={"text": "hi", "deliver": deliver})
        assert reply.status == 422, deliver
        error = body_of(reply)["error"]
        assert (error["field"], error["code"]) == (where, code)
        assert "10.0.0.7" not in error["message"] or code == "unsafe_deliver_url"
    reply = await rig.api.call("POST", "/v1/jobs", json_body={"text": "hi", "webhookUrl": "https://h.example.com/x",
                                                              "webhookEvents": ["delivery"]})
    assert reply.status == 422 and body_of(reply)["error"]["field"] == "webhookEvents"


@pytest.mark.parametrize("headers, problem", [
    ({"Content-Length": "5"}, "set by the service"),
    ({"transfer-encoding": "chunked"}, "set by the service"),
    ({"Connection": "close"}, "set by the service"),
    ({"x-a": "1", "X-A": "2"}, "more than once"),
    ({"bad name": "v"}, "not a valid header name"),
    ({"x-v": "a\nb"}, "visible ASCII"),
    ({"x-v": "caf\u00e9"}, "visible ASCII"),
    ({f"x-{i}": "v" for i in range(MAX_HEADERS + 1)}, f"at most {MAX_HEADERS}"),
    ({"x-big": "v" * 9000}, "over 8192 bytes"),
])
def test_header_rules(headers: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_delivery_headers(headers)


def test_allowed_headers_pass_as_given() -> None:
    given = {"Content-Type": "audio/mpeg", "x-amz-server-side-encryption": "AES256", "x-ms-blob-type": "BlockBlob",
             "x-empty": ""}
    assert check_delivery_headers(given) == given


def test_scrub_removes_the_url_and_its_parts() -> None:
    text = f"failed {BUCKET} and {BUCKET.split('?')[0]} and X-Amz-Signature=deadbeef0123"
    assert "deadbeef" not in scrub(text, BUCKET) and "bucket.example.com" not in scrub(text, BUCKET)


async def test_the_openai_speech_route_does_not_take_deliver(rig: Rig) -> None:
    body = {"model": "tone", "input": "hi", "voice": "default", "deliver": {"url": BUCKET}}
    reply = await rig.api.call("POST", "/v1/audio/speech", json_body=body)
    assert reply.status == 400
    error = body_of(reply)["error"]
    assert error["param"] == "deliver" and "deadbeef" not in json.dumps(error)


@dataclass
class SlowUploader(FakeUploader):
    """Each PUT takes ``seconds`` of the fake clock; records how many ran at once."""

    clock: object = None
    seconds: float = 300.0
    running: int = 0
    most: int = 0

    async def put(self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float) -> int:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0)  # let the others start, as real uploads would
        await asyncio.sleep(0)
        self.clock.advance(self.seconds / MAX_CONCURRENT_UPLOADS)  # type: ignore[union-attr]
        self.running -= 1
        return await super().put(url, headers=headers, body=body, length=length, timeout=timeout)


async def test_a_batch_of_uploads_ends_within_the_consumers_wall_time(rig: Rig) -> None:
    """GIVEN ten delivery messages whose uploads take 300 s each WHEN one batch runs THEN at most three
    upload at once, two waves start (600 s), and the rest are handed back unstarted."""
    ids = [await rig.submit() for _ in range(10)]
    for job_id in ids:
        await rig.synthesize(job_id)
    slow = SlowUploader(clock=rig.api.clock, seconds=300.0)
    rig.deps.uploader = slow
    messages = [IncomingMessage(f"d{n}", body, 1) for n, body in enumerate(rig.messages("delivery"))]
    started = rig.api.clock()
    outcome = await process_delivery_batch(messages, rig.deps)
    assert slow.most == MAX_CONCURRENT_UPLOADS
    assert len(slow.puts) == 6 and rig.api.clock() - started <= INVOCATION_BUDGET_SECONDS
    deferred = [m for m, o in outcome.outcomes.items() if o == Retry(0)]
    assert len(deferred) == 4 and len(outcome.acked()) == 6
    states = [(await rig.job(j))["delivery"] for j in ids]
    assert sorted(s["state"] for s in states) == ["delivered"] * 6 + ["pending"] * 4
    assert all(s["attempts"] == 0 for s in states if s["state"] == "pending")  # deferred: no attempt counted


async def test_a_lost_send_of_the_delivery_message_is_resent_by_the_shards_alarm(rig: Rig) -> None:
    job_id = await rig.submit()
    rig.hooks.fail_sends = 1  # the send after the completing transaction fails
    await rig.synthesize(job_id)
    assert rig.messages("delivery") == []
    rig.api.clock.advance(10)
    assert await rig.api.shards.ring_due() == 1
    assert await rig.deliver() == Ack()
    assert (await rig.job(job_id))["delivery"] == {"state": "delivered", "attempts": 1}


async def test_an_upload_cut_short_by_a_crash_is_made_again(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    # The consumer died mid-upload: the delivery says delivering, the message comes back.
    await rig.api.shards.client.call(RecordDelivery(job_id=job_id, state="delivering", attempts=1))
    assert await rig.deliver(attempts=2) == Ack()
    assert (await rig.job(job_id))["delivery"] == {"state": "delivered", "attempts": 2}
    assert len(rig.uploader.puts) == 1


async def test_a_job_completed_at_submit_from_the_cache_is_delivered_too(rig: Rig) -> None:
    # The catalogue's own synthesizers and specs: the consumer then fills the synthesis cache.
    rig.deps = replace(rig.deps, make_catalogue=rig.api.deps.make_catalogue)
    text = "Said once, delivered twice."
    first = await rig.submit(text=text, model="tone")
    await rig.synthesize(first)
    assert (await rig.job(first))["status"] == "completed"
    reply = await rig.api.call("POST", "/v1/jobs", json_body={"text": text, "model": "tone", "deliver": {"url": BUCKET}})
    second = body_of(reply)
    assert reply.status == 200 and second["status"] == "completed" and second["cache"]["hit"] is True
    assert second["delivery"] == {"state": "pending", "attempts": 0}
    assert [m["jobId"] for m in rig.messages("delivery")] == [first, second["jobId"]]
    [_, body] = rig.messages("delivery")
    assert await deliver_audio(IncomingMessage("d2", body, 1), rig.deps) == Ack()
    assert (await rig.job(second["jobId"]))["delivery"] == {"state": "delivered", "attempts": 1}
    record = await rig.api.shards.client.call(Get(job_id=second["jobId"]))
    assert record is not None and record.audio_key is not None
    assert rig.uploader.puts[-1].body == rig.api.bucket.objects[record.audio_key].data
