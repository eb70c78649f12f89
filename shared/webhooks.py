"""Webhooks, queue side: announce finished jobs, deliver with retries.

Two steps, both on the synth consumer Worker, never inline in an API request:

1. ``WebhookNotifier.job_finished``: after the consumer completes, fails or
   cancels a job, it sends a ``DeliverWebhook`` message to ``tts-webhooks``
   and marks the job's webhook ``pending``. Send first, mark second: a crash
   in between re-sends on the synth message's redelivery, and deliveries are
   deduplicated by their stable ``webhook-id`` (and by the job's webhook
   state, checked before each attempt).
2. ``process_webhook_batch``: POSTs the event, signed as Standard Webhooks
   (``webhook-id`` = ``msg_<jobId>_<event>``, the same on every retry;
   ``webhook-timestamp``; ``webhook-signature`` ``v1,<base64 HMAC-SHA256>``
   with each of the tenant's secrets in force). A 2xx answer is delivered;
   anything else retries with exponential backoff until
   ``WEBHOOK_MAX_ATTEMPTS``, then the webhook is marked failed. Each
   attempt's outcome is stored on the job (``GET /v1/jobs/{id}`` shows it).
   Redirects are not followed: a 3xx is a failed attempt.

The ``delivery`` event (type ``job.delivery``: a job's ``deliver.url``
delivery ended, its ``data.delivery.state`` says how) is recorded by the
shard in the transaction that ends the delivery (shared/jobs/outbox.py) and
goes out here the same way; its attempts are the queue message's, and its
outcome is kept apart from the job's final-state webhook (``webhook`` in the
job view describes that one).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from pydantic import ValidationError

from shared.api.views import job_view
from shared.models import webhook_events
from shared.config import Settings
from shared.dependencies import Dependencies
from shared.jobs.rpc import JobsClient
from shared.jobs.shard import Get, MarkWebhook, RecordDeliveryWebhook, RecordWebhook
from shared.models import EVENT_OF_STATUS, DeliverWebhook, JobRecord, WebhookEvent, iso
from shared.outcomes import Ack, BatchOutcome, Outcome, Retry, backoff_seconds
from shared.ports import HttpClient, IncomingMessage, QueueProducer
from shared.security.signing import audio_link_query, keyring_of, webhook_headers, webhook_secrets
from shared.security.urls import UnsafeUrlError, check_webhook_url, url_policy

if TYPE_CHECKING:
    from shared.models import JobView

USER_AGENT = "tts-pipeline-webhooks/1"
MAX_ERROR_CHARS = 300
MAX_RESPONSE_BYTES = 64 * 1024  # a receiver's answer is read only for its status; a bigger one is a failure

def message_id(job_id: str, event: WebhookEvent) -> str:
    """``webhook-id``: stable across retries and duplicate enqueues of one event."""
    return f"msg_{job_id}_{event.value}"


# --- step 1: the consumer announces a finished job ----------------------------


@dataclass
class WebhookNotifier:
    queue: QueueProducer  # tts-webhooks
    jobs: JobsClient

    async def job_finished(self, record: JobRecord) -> None:
        """Enqueue the job's webhook if it wants this event and none was enqueued yet."""
        event = EVENT_OF_STATUS.get(record.status)
        if event is None or not record.webhook_url or record.webhook_status is not None:
            return
        if event not in webhook_events(record):
            return
        message = DeliverWebhook(jobId=record.job_id, shard=self.jobs.shard_of(record.job_id), event=event)
        await self.queue.send(message.model_dump(mode="json"))
        await self.jobs.call(MarkWebhook(job_id=record.job_id))


# --- step 2: deliver ------------------------------------------------------------


def event_body(record: JobRecord, event: WebhookEvent, settings: Settings, now: float) -> bytes:
    """The payload: ``{"type": "job.<event>", "timestamp", "data": <the job as GET shows it>}``."""
    keyring = keyring_of(settings)
    query: Callable[[JobRecord], str] | None = None
    if keyring is not None:
        def signed(r: JobRecord) -> str:
            return audio_link_query(keyring, r.job_id, r.tenant, now, settings.signed_url_ttl_seconds)

        query = signed

    view: JobView = job_view(record, settings.public_base_url or "", query)
    view.webhook = None  # the delivery's own bookkeeping is not part of the event
    when = iso(record.completed_at or record.updated_at)
    payload = {
        "type": f"job.{event.value}",
        "timestamp": when.isoformat().replace("+00:00", "Z") if when else None,
        "data": view.to_json_dict(),
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def _http(deps: Dependencies) -> HttpClient:
    """The client webhooks go out through (the synth_consumer's ``http``)."""
    if deps.http is None:
        raise RuntimeError("this runtime's dependencies carry no HTTP client for webhook deliveries")
    return deps.http


async def process_webhook_batch(messages: Sequence[IncomingMessage], deps: Dependencies) -> BatchOutcome:
    _http(deps)  # a runtime that consumes tts-webhooks without a client fails loudly, not per message
    outcome = BatchOutcome()
    for message in messages:  # few per batch, each bounded by its timeout
        outcome.outcomes[message.id] = await deliver_webhook(message, deps)
    return outcome


async def _record(
    deps: Dependencies, job_id: str, event: WebhookEvent, status: Literal["pending", "delivered", "failed"],
    attempts: int, code: int | None, error: str | None,
) -> None:
    if event is WebhookEvent.DELIVERY:
        await deps.jobs.call(RecordDeliveryWebhook(job_id=job_id, status=status))
        return
    await deps.jobs.call(
        RecordWebhook(job_id=job_id, status=status, attempts=attempts, last_status=code, last_error=error)
    )


async def deliver_webhook(message: IncomingMessage, deps: Dependencies) -> Outcome:
    log = deps.log
    try:
        command = DeliverWebhook.model_validate(message.body)
    except ValidationError as exc:
        log.error("poison_webhook_message", messageId=message.id, error=str(exc.errors()[:3]))
        return Ack()
    job_id = command.jobId
    record = await deps.jobs.call(Get(job_id=job_id))
    if record is None or not record.webhook_url:
        return Ack()  # deleted meanwhile: nobody to tell about, nowhere to record it
    event = command.event
    if event is WebhookEvent.DELIVERY:
        settled = record.delivery_webhook_status in ("delivered", "failed")
        attempt = max(message.attempts, 1)
    else:
        settled = record.webhook_status in ("delivered", "failed")
        attempt = record.webhook_attempts + 1
    if settled:
        return Ack()  # a duplicate message: already settled
    keyring = keyring_of(deps.settings)
    settings = deps.settings
    try:
        if keyring is None:
            raise UnsafeUrlError("SIGNING_KEY is not set: webhooks cannot be signed")
        url = check_webhook_url(record.webhook_url, url_policy(settings))
        host = urlsplit(url).hostname or ""
        if deps.host_allowed is not None and not await deps.host_allowed(host):
            raise UnsafeUrlError("host resolves to a private, loopback or link-local address")
    except UnsafeUrlError as exc:
        await _record(deps, job_id, event, "failed", attempt, None, f"refused: {exc}")
        log.warning("webhook_refused", jobId=job_id, messageId=message.id, error=str(exc))
        return Ack()

    now = deps.clock()
    body = event_body(record, event, settings, now)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **webhook_headers(webhook_secrets(keyring, record.tenant, now), message_id(job_id, event), int(now), body),
    }
    code: int | None = None
    try:
        response = await _http(deps).request("POST", url, headers=headers, body=body, timeout=settings.webhook_timeout_seconds)
        code = response.status
        error = None if 200 <= code < 300 else f"HTTP {code}"
    except Exception as exc:  # no response at all: DNS, refused, TLS, timeout
        # Receivers often put a secret in the URL's path: keep it out of logs and errors.
        parts = urlsplit(url)
        detail = str(exc)
        for shown in (url, url.split("?")[0], f"{parts.scheme}://{parts.netloc}{parts.path}"):
            detail = detail.replace(shown, "<webhookUrl>")
        error = f"{type(exc).__name__}: {detail}"[:MAX_ERROR_CHARS]

    if error is None:
        await _record(deps, job_id, event, "delivered", attempt, code, None)
        log.info("webhook_delivered", jobId=job_id, messageId=message.id, attempts=attempt, statusCode=code)
        return Ack()
    if attempt >= settings.webhook_max_attempts:
        await _record(deps, job_id, event, "failed", attempt, code, error)
        log.warning("webhook_failed", jobId=job_id, messageId=message.id, attempts=attempt, error=error)
        return Ack()
    await _record(deps, job_id, event, "pending", attempt, code, error)
    delay = backoff_seconds(attempt, settings.webhook_retry_base_seconds)
    log.info("webhook_retry", jobId=job_id, messageId=message.id, attempts=attempt, delay=delay, error=error)
    return Retry(delay)
