"""Delivery to the customer's bucket: PUT a completed job's audio to its ``deliver.url``.

How it flows, never in the way of the job itself (the job is ``completed``
before any of this starts, and stays so whatever the delivery does):

1. Submit (shared/api/submission.py): ``deliver.url`` passes the webhooks' URL
   policy (shared/security/urls.py) and ``deliver.headers`` the header rule
   (shared/security/delivery_headers.py); the job's delivery is ``pending``.
2. Completion (shared/jobs/shard.py): the transaction that completes the job
   (or creates it completed, from the synthesis cache) records a ``DeliverAudio`` message in the shard's outbox (durable: sent
   after the commit, re-sent by the shard's alarm if that send is lost). It
   goes on the webhook queue (``tts-webhooks``), whose consumer routes it here
   by its ``kind``. A job that fails or is canceled ends its delivery
   ``failed`` (nothing to deliver).
3. ``deliver_audio`` (the synth consumer, one message at a time): marks the
   delivery ``delivering`` with one more attempt, streams the R2 object to
   the URL with a PUT of known ``Content-Length`` (S3 and GCS presigned PUTs
   refuse chunked uploads), and records the outcome: a 2xx answer is
   ``delivered``; anything else (a 3xx included: redirects are not followed)
   goes back to ``pending`` with ``lastError`` and the message is retried
   after an exponential backoff (``DELIVERY_RETRY_BASE_SECONDS`` doubling),
   until ``DELIVERY_MAX_ATTEMPTS``, then ``failed``. The transaction that
   records ``delivered`` or ``failed`` also records the job's ``delivery``
   webhook event (shared/webhooks.py) when it has a webhook.

Memory: the body is never whole in memory. ``StreamUploader`` takes the R2
body as it is: on Cloudflare its ``ReadableStream`` is piped into the fetch
inside the JS runtime (no copy into Python); locally it is read and sent in
64 KiB pieces. A crash mid-upload leaves the delivery ``delivering``; the
message comes back and the attempt is made again (a PUT is idempotent).

Worst case of one invocation (a batch of ``tts-webhooks``, at most 10
messages): uploads run ``MAX_CONCURRENT_UPLOADS`` at a time (each holds an R2
read and a fetch: two of a Worker's six simultaneous connections), each
bounded by ``DELIVERY_TIMEOUT_SECONDS`` (<= 840). An upload starts only while
it can finish within ``INVOCATION_BUDGET_SECONDS`` of the batch's start
(the webhooks of the same batch included); one that cannot is handed back
unstarted (``Retry(0)``, no attempt counted) for the next invocation. So a
batch never outlives the consumer's 15 minutes of wall time: with the
defaults (300 s) at most two waves of 3 uploads, 600 s.

Secrecy: ``deliver.url`` (often carrying a signature) and ``deliver.headers``
(possibly credentials) are stored on the job and read only here. No log
line, job view, list, webhook payload or error message carries them: an
error raised by an HTTP client is scrubbed of the URL before it is stored
or logged (``scrub``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from urllib.parse import urlsplit

from pydantic import ValidationError

from shared.dependencies import Dependencies
from shared.jobs.shard import Get, RecordDelivery
from shared.models import DeliverAudio, DeliveryState, JobRecord, JobStatus
from shared.outcomes import Ack, BatchOutcome, Outcome, Retry, backoff_seconds
from shared.platform_limits import QUEUE_CONSUMER_WALL_SECONDS
from shared.ports import IncomingMessage, StreamUploader
from shared.security.urls import UnsafeUrlError, check_webhook_url, url_policy

MAX_ERROR_CHARS = 300
PIECE_BYTES = 64 * 1024
"""The size of the pieces a runtime that reads the body in Python sends it in."""
MAX_RESPONSE_BYTES = 64 * 1024
"""A receiver's answer is read only for its status; more than this is not read."""
URL_PLACEHOLDER = "<deliver.url>"
MAX_CONCURRENT_UPLOADS = 3
INVOCATION_BUDGET_SECONDS = QUEUE_CONSUMER_WALL_SECONDS - 60
"""An upload starts only if it can end this long after its batch started (a minute of margin)."""

def is_delivery(body: object) -> bool:
    """Whether a message of the webhook queue is a delivery (``DeliverAudio``), not a webhook."""
    return isinstance(body, dict) and body.get("kind") == "delivery"


def scrub(text: str, url: str) -> str:
    """``text`` without the URL or any prefix of it that carries more than its origin."""
    parts = urlsplit(url)
    for shown in (url, url.split("?")[0], f"{parts.scheme}://{parts.netloc}{parts.path}", parts.query, parts.path):
        if shown and shown not in ("/", ""):
            text = text.replace(shown, URL_PLACEHOLDER)
    return text


def request_headers(record: JobRecord, length: int) -> dict[str, str]:
    """The PUT's headers: the job's own (checked at submit), a Content-Type from the audio's
    type when they give none, and the length (adapters that frame the body themselves drop it)."""
    given: dict[str, str] = json.loads(record.deliver_headers) if record.deliver_headers else {}
    headers = dict(given)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = record.mime_type or "application/octet-stream"
    headers["Content-Length"] = str(length)
    return headers


def _uploader(deps: Dependencies) -> StreamUploader:
    """The PUT deliveries go out through (the synth_consumer's ``uploader``)."""
    if deps.uploader is None:
        raise RuntimeError("this runtime's dependencies carry no uploader for deliveries")
    return deps.uploader


async def process_delivery_batch(
    messages: Sequence[IncomingMessage], deps: Dependencies, *, started: float | None = None
) -> BatchOutcome:
    """Each message's outcome; ``started``: when the invocation began (default now)."""
    _uploader(deps)  # a runtime that consumes deliveries without an uploader fails loudly, not per message
    begun = deps.clock() if started is None else started
    slots = asyncio.Semaphore(MAX_CONCURRENT_UPLOADS)

    async def one(message: IncomingMessage) -> Outcome:
        async with slots:
            if deps.clock() - begun + deps.settings.delivery_timeout_seconds > INVOCATION_BUDGET_SECONDS:
                deps.log.info("delivery_deferred", messageId=message.id)
                return Retry(0)  # not started: no attempt counted; the next invocation takes it
            return await deliver_audio(message, deps)

    results = await asyncio.gather(*(one(m) for m in messages))
    return BatchOutcome(dict(zip((m.id for m in messages), results, strict=True)))


async def deliver_audio(message: IncomingMessage, deps: Dependencies) -> Outcome:
    log, settings = deps.log, deps.settings
    try:
        command = DeliverAudio.model_validate(message.body)
    except ValidationError as exc:
        log.error("poison_delivery_message", messageId=message.id, error=str(exc.errors()[:3])[:MAX_ERROR_CHARS])
        return Ack()
    job_id = command.jobId
    record = await deps.jobs.call(Get(job_id=job_id))
    if record is None or not record.deliver_url:
        return Ack()  # deleted meanwhile: nowhere to record anything
    if record.delivery_state in ("delivered", "failed"):
        return Ack()  # a duplicate message: already settled
    attempt = record.delivery_attempts + 1

    async def settle(state: DeliveryState, error: str | None) -> None:
        await deps.jobs.call(RecordDelivery(job_id=job_id, state=state, attempts=attempt, last_error=error))

    if record.status is not JobStatus.COMPLETED or not record.audio_key:
        await settle("failed", "the job has no audio to deliver")
        return Ack()
    url = record.deliver_url
    try:
        check_webhook_url(url, url_policy(settings))  # the policy in force now, not the one at submit
        host = urlsplit(url).hostname or ""
        if deps.host_allowed is not None and not await deps.host_allowed(host):
            raise UnsafeUrlError("host resolves to a private, loopback or link-local address")
    except UnsafeUrlError as exc:
        refused = scrub(f"refused: {exc}", url)
        await settle("failed", refused)
        log.warning("delivery_refused", jobId=job_id, messageId=message.id, error=refused)
        return Ack()

    await deps.jobs.call(
        RecordDelivery(job_id=job_id, state="delivering", attempts=attempt, last_error=record.delivery_last_error)
    )
    error: str | None = None
    code: int | None = None
    body = await deps.bucket.get(record.audio_key)
    if body is None:
        await settle("failed", "the job's audio is gone (expired or deleted)")
        log.warning("delivery_failed", jobId=job_id, messageId=message.id, attempts=attempt, error="audio gone")
        return Ack()
    length = body.info.size
    try:
        code = await _uploader(deps).put(
            url, headers=request_headers(record, length), body=body, length=length,
            timeout=settings.delivery_timeout_seconds,
        )
        error = None if 200 <= code < 300 else f"HTTP {code}"
    except Exception as exc:  # noqa: BLE001 - no response at all: DNS, refused, TLS, timeout, a broken stream
        error = scrub(f"{type(exc).__name__}: {exc}", url)[:MAX_ERROR_CHARS]

    if error is None:
        await settle("delivered", None)
        log.info("delivery_delivered", jobId=job_id, messageId=message.id, attempts=attempt, statusCode=code,
                 sizeBytes=length)
        return Ack()
    if attempt >= settings.delivery_max_attempts:
        await settle("failed", error)
        log.warning("delivery_failed", jobId=job_id, messageId=message.id, attempts=attempt, error=error)
        return Ack()
    await settle("pending", error)
    delay = backoff_seconds(attempt, settings.delivery_retry_base_seconds)
    log.info("delivery_retry", jobId=job_id, messageId=message.id, attempts=attempt, delay=delay, error=error)
    return Retry(delay)
