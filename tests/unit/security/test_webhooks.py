from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest

from shared.consumer import process_batch, process_dead_letters
from shared.dependencies import Dependencies
from shared.outcomes import Ack, Retry
from shared.errors import HttpTimeoutError, PermanentSynthesisError
from shared.jobs.sharding import shard_for
from shared.models import WebhookEvent
from shared.ports import HttpClientResponse, IncomingMessage
from shared.security.signing import webhook_secret
from shared.webhooks import deliver_webhook, message_id
from tests.fakes import MemoryQueue, ScriptedSynthesizer, bootstrap_test_app
from tests.unit.security.conftest import SIGNING_KEY, Api, body_of, build_api

HOOK = "https://hooks.example.com/tts"


@dataclass
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeHttp:
    """Answers with the scripted statuses (or raises the scripted errors), then 204."""

    script: list[int | Exception] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)

    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpClientResponse:
        self.sent.append(Sent(method, url, dict(headers), body or b""))
        step = self.script.pop(0) if self.script else 204
        if isinstance(step, Exception):
            raise step
        return HttpClientResponse(status=step, headers={}, body=b"")


@dataclass
class Rig:
    api: Api
    hooks: MemoryQueue
    deps: Dependencies  # the synth_consumer's: synthesis and webhook deliveries
    http: FakeHttp
    synth: ScriptedSynthesizer

    async def submit(self, **fields: object) -> str:
        reply = await self.api.call("POST", "/v1/jobs", json_body={"text": "hello", "webhookUrl": HOOK, **fields})
        assert reply.status == 202, reply.body
        return str(body_of(reply)["jobId"])

    async def synthesize(self, job_id: str, attempts: int = 1) -> object:
        count = self.api.deps.settings.shard_count
        message = IncomingMessage("m-" + job_id, {"v": 1, "jobId": job_id, "shard": shard_for(job_id, count)}, attempts)
        return (await process_batch([message], self.deps)).outcomes[message.id]

    async def deliver(self, n: int = 0) -> object:
        body, _ = self.hooks.sent[n]
        attempts = 1 + sum(1 for s in self.http.sent)
        return await deliver_webhook(IncomingMessage(f"w{n}", body, attempts), self.deps)

    async def job(self, job_id: str) -> dict:
        return body_of(await self.api.call("GET", f"/v1/jobs/{job_id}"))


@pytest.fixture
def rig() -> Rig:
    api = build_api(webhook_max_attempts=3, webhook_retry_base_seconds=30)
    hooks, http, synth = MemoryQueue(), FakeHttp(), ScriptedSynthesizer()
    logs = io.StringIO()
    deps = bootstrap_test_app(
        api.deps.settings, clock=api.clock, shards=api.shards, bucket=api.bucket, synthesizer=synth,
        webhook_queue=hooks, http=http, log_stream=logs,
    ).acting_as("synth_consumer")
    return Rig(api, hooks, deps, http, synth)


async def test_a_completed_job_enqueues_one_signed_delivery(rig: Rig) -> None:
    job_id = await rig.submit()
    assert await rig.synthesize(job_id) == Ack()
    assert len(rig.hooks.sent) == 1 and rig.http.sent == []  # queued, not sent inline
    assert (await rig.job(job_id))["webhook"]["status"] == "pending"
    assert await rig.deliver() == Ack()
    sent = rig.http.sent[0]
    assert sent.method == "POST" and sent.url == HOOK
    assert sent.headers["webhook-id"] == message_id(job_id, WebhookEvent.COMPLETED)
    payload = json.loads(sent.body)
    assert payload["type"] == "job.completed" and payload["data"]["jobId"] == job_id
    assert "signature=" in payload["data"]["audioUrl"] and "webhook" not in payload["data"]
    webhook = (await rig.job(job_id))["webhook"]
    assert webhook["status"] == "delivered" and webhook["attempts"] == 1 and webhook["lastStatusCode"] == 204


async def test_redelivered_synth_messages_do_not_announce_twice(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    assert await rig.synthesize(job_id, attempts=2) == Ack()  # already final
    assert len(rig.hooks.sent) == 1
    await rig.deliver()
    assert await rig.deliver() == Ack()  # a duplicate delivery message: settled already
    assert len(rig.http.sent) == 1


async def test_non_2xx_retries_with_backoff_then_gives_up(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    rig.http.script = [500, HttpTimeoutError("slow"), 302]
    assert await rig.deliver() == Retry(30)
    assert await rig.deliver() == Retry(60)
    webhook = (await rig.job(job_id))["webhook"]
    assert webhook["status"] == "pending" and webhook["attempts"] == 2 and "HttpTimeoutError" in webhook["lastError"]
    assert await rig.deliver() == Ack()  # third attempt (a redirect is not followed): the limit
    webhook = (await rig.job(job_id))["webhook"]
    assert webhook["status"] == "failed" and webhook["lastStatusCode"] == 302 and webhook["attempts"] == 3
    ids = {s.headers["webhook-id"] for s in rig.http.sent}
    assert len(ids) == 1  # stable across retries


async def test_event_filter_and_failed_jobs(rig: Rig) -> None:
    only_failures = await rig.submit(webhookEvents=["failed"])
    await rig.synthesize(only_failures)
    assert rig.hooks.sent == []
    assert (await rig.job(only_failures))["webhook"]["status"] == "skipped"
    failing = await rig.submit()
    rig.synth.errors = [PermanentSynthesisError("no voice")]
    await rig.synthesize(failing)
    await rig.deliver()
    assert json.loads(rig.http.sent[0].body)["type"] == "job.failed"


async def test_dead_lettered_jobs_are_announced(rig: Rig) -> None:
    job_id = await rig.submit()
    count = rig.api.deps.settings.shard_count
    dead = IncomingMessage("d1", {"v": 1, "jobId": job_id, "shard": shard_for(job_id, count)}, 4)
    rig.api.clock.advance(rig.deps.settings.reaper_give_up_seconds)  # too old to re-send: failed
    queued = list(rig.api.queue.sent)
    await process_dead_letters([dead], rig.deps)
    assert len(rig.hooks.sent) == 1 and rig.api.queue.sent == queued


async def test_a_deadline_cancels_the_job_and_announces_it(rig: Rig) -> None:
    job_id = await rig.submit(cancelAfterSeconds=5)
    assert (await rig.job(job_id))["deadlineAt"]
    rig.api.clock.advance(6)
    assert await rig.synthesize(job_id) == Ack()
    job = await rig.job(job_id)
    assert job["status"] == "canceled" and "deadline" in job["error"]
    assert rig.synth.calls == []
    await rig.deliver()
    assert json.loads(rig.http.sent[0].body)["type"] == "job.canceled"


async def test_signatures_verify_with_the_tenants_secret(rig: Rig) -> None:
    import base64
    import hashlib
    import hmac

    job_id = await rig.submit()
    await rig.synthesize(job_id)
    await rig.deliver()
    sent = rig.http.sent[0]
    key = base64.b64decode(webhook_secret(SIGNING_KEY, "alice").removeprefix("whsec_"))
    signed = f"{sent.headers['webhook-id']}.{sent.headers['webhook-timestamp']}.".encode() + sent.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert sent.headers["webhook-signature"] == f"v1,{expected}"
    assert int(sent.headers["webhook-timestamp"]) == int(rig.api.clock.now)


async def test_a_url_that_became_unsafe_is_refused_at_delivery(rig: Rig) -> None:
    job_id = await rig.submit()
    await rig.synthesize(job_id)
    rig.deps.settings = replace(rig.deps.settings, webhook_schemes=("http",))  # policy tightened
    assert await rig.deliver() == Ack()
    assert rig.http.sent == []
    webhook = (await rig.job(job_id))["webhook"]
    assert webhook["status"] == "failed" and webhook["lastError"].startswith("refused")


async def test_the_host_check_runs_before_connecting(rig: Rig) -> None:
    async def resolves_to_loopback(host: str) -> bool:
        return False

    job_id = await rig.submit()
    await rig.synthesize(job_id)
    rig.deps.host_allowed = resolves_to_loopback
    assert await rig.deliver() == Ack()
    assert rig.http.sent == [] and (await rig.job(job_id))["webhook"]["status"] == "failed"


@pytest.mark.parametrize(
    "fields,code",
    [
        ({"webhookUrl": "http://hooks.example.com/"}, "unsafe_webhook_url"),
        ({"webhookUrl": "https://169.254.169.254/"}, "unsafe_webhook_url"),
        ({"webhookUrl": "https://localhost/"}, "unsafe_webhook_url"),
        ({"webhookUrl": ""}, "validation_error"),
        ({"webhookUrl": HOOK, "webhookEvents": []}, "validation_error"),
        ({"webhookUrl": HOOK, "webhookEvents": ["exploded"]}, "validation_error"),
        ({"webhookEvents": ["completed"]}, "validation_error"),
        ({"cancelAfterSeconds": 0}, "validation_error"),
    ],
)
async def test_bad_webhook_fields_are_422_naming_the_field(fields: dict, code: str) -> None:
    api = build_api()
    reply = await api.call("POST", "/v1/jobs", json_body={"text": "hi", **fields})
    assert reply.status == 422
    error = body_of(reply)["error"]
    assert error["code"] == code and error["field"].split(".")[0] in fields
    assert api.jobs() == []


async def test_webhooks_need_a_signing_key() -> None:
    api = build_api(signing_key=None)
    reply = await api.call("POST", "/v1/jobs", json_body={"text": "hi", "webhookUrl": HOOK})
    assert reply.status == 422 and body_of(reply)["error"]["code"] == "webhooks_disabled"
    assert (await api.call("GET", "/v1/webhooks/secret")).status == 409


async def test_each_tenant_gets_its_own_secret(rig: Rig) -> None:
    alice = body_of(await rig.api.call("GET", "/v1/webhooks/secret"))
    bob = body_of(await rig.api.call("GET", "/v1/webhooks/secret", token="bob-token"))
    assert alice["secret"] == webhook_secret(SIGNING_KEY, "alice") != bob["secret"]
    assert "previousSecret" not in alice


async def test_errors_never_repeat_the_webhook_url(rig: Rig) -> None:
    secret_url = "https://hooks.example.com/T000/B000/very-secret-path"
    job_id = await rig.submit(webhookUrl=secret_url)
    await rig.synthesize(job_id)
    rig.http.script = [HttpTimeoutError(f"POST {secret_url}: no response within 10 s")]
    assert await rig.deliver() == Retry(30)
    webhook = (await rig.job(job_id))["webhook"]
    assert "very-secret-path" not in webhook["lastError"] and "<webhookUrl>" in webhook["lastError"]
    assert "very-secret-path" not in rig.deps.log._stream.getvalue()  # type: ignore[union-attr]
