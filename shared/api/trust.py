"""The API's trust rules: idempotency, admission limits, signed audio links, webhook secrets.

Kept apart from ``jobs.py`` so each handler reads as its happy path plus
one call per rule; the rules themselves live in ``shared.security``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.config import Settings
from shared.api.views import AudioQuery
from shared.http import HttpRequest, HttpResponse
from shared.jobs.sharding import shard_for
from shared.models import CreateJobRequest, JobRecord, WebhookSecretView
from shared.security.ratelimit import job_creation_key
from shared.security.signing import (
    LinkCheck,
    audio_link_query,
    keyring_of,
    tenant_tag,
    verify_audio_link,
    webhook_secrets,
)
from shared.security.urls import UnsafeUrlError, check_webhook_url, url_policy

if TYPE_CHECKING:
    from shared.api.deps import ApiDeps

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_ID_DRAWS = 10_000
IN_FLIGHT_RETRY_AFTER = 10


# --- size ------------------------------------------------------------------------


def body_limit(settings: Settings) -> int:
    """The largest request body taken (413 above): ``MAX_BODY_BYTES``, or room for
    ``MAX_TEXT_CHARS`` characters of up to 4 UTF-8 bytes, JSON escaping aside."""
    return settings.max_body_bytes or settings.max_text_chars * 6 + 16_384


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is over {limit} bytes")


# --- idempotency -----------------------------------------------------------------


def idempotency_key(request: HttpRequest) -> str | None:
    """The request's ``Idempotency-Key`` (1-255 visible ASCII characters), or None."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY.match(raw):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-255 visible ASCII characters",
            field=IDEMPOTENCY_HEADER,
        )
    return raw


def scoped_key(tenant: str, key: str) -> str:
    """What the shard stores: the key hashed with its tenant (scoped, fixed size, never the raw key)."""
    return hashlib.sha256(f"{tenant}\n{key}".encode()).hexdigest()


def request_fingerprint(body: CreateJobRequest) -> str:
    """A repeat "with the same body" means the same validated fields, whatever the JSON spacing or key order."""
    canonical = json.dumps(body.to_json_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def job_id_in_shard(new_job_id: Callable[[], str], shard: str, shard_count: int) -> str:
    """A fresh random id that lives on ``shard``: a keyed job must be found by its key's shard."""
    for _ in range(MAX_ID_DRAWS):
        job_id = new_job_id()
        if shard_for(job_id, shard_count) == shard:
            return job_id
    raise RuntimeError(f"no job id for {shard} after {MAX_ID_DRAWS} draws")


def replay(record: JobRecord, fingerprint: str, key: str) -> None:
    """Raise the 422 when a key comes back with a different body; return when it is a true repeat."""
    if record.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency_conflict",
            f"{IDEMPOTENCY_HEADER} {key[:64]!r} was already used for job {record.job_id} with a different"
            " request body; send the same body to get that job back, or use a new key",
            field=IDEMPOTENCY_HEADER,
            extra={"jobId": record.job_id},
        )


# --- admission: the creation rate ------------------------------------


async def admit(deps: ApiDeps, tenant: str) -> None:
    """429 with Retry-After when the tenant is over its job creation rate.

    The cap on jobs in flight is decided by the shard that stores the job
    (shared/api/admission.py)."""
    settings = deps.settings
    if deps.rate_limiter is not None and settings.job_rate_limit > 0:
        decision = await deps.rate_limiter.limit(job_creation_key(tenant))
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"at most {settings.job_rate_limit} jobs per {settings.job_rate_period} s; retry later",
                headers={"Retry-After": str(max(1, decision.retry_after))},
            )


# --- webhooks ----------------------------------------------------------------------


def check_webhook(deps: ApiDeps, body: CreateJobRequest) -> None:
    """422 naming ``webhookUrl`` when the URL is refused or webhooks are off."""
    if body.webhook_url is None:
        if body.webhook_events is not None:
            raise ApiError(422, "validation_error", "webhookEvents: needs webhookUrl", field="webhookEvents")
        return
    if keyring_of(deps.settings) is None:
        raise ApiError(
            422, "webhooks_disabled", "webhookUrl: this deployment has no SIGNING_KEY, so no webhooks",
            field="webhookUrl",
        )
    try:
        check_webhook_url(body.webhook_url, url_policy(deps.settings))
    except UnsafeUrlError as exc:
        raise ApiError(422, "unsafe_webhook_url", f"webhookUrl: {exc}", field="webhookUrl") from exc


def webhook_event_list(body: CreateJobRequest) -> str | None:
    if body.webhook_events is None:
        return None
    return ",".join(dict.fromkeys(e.value for e in body.webhook_events))


async def webhook_secret(request: HttpRequest, deps: ApiDeps, tenant: str) -> HttpResponse:
    """``GET /v1/webhooks/secret``: the caller's ``whsec_`` secret(s) to verify deliveries with."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        raise ApiError(409, "webhooks_disabled", "this deployment has no SIGNING_KEY, so no webhooks")
    secrets = webhook_secrets(keyring, tenant, deps.clock())
    view = WebhookSecretView(secret=secrets[0], previous_secret=secrets[1] if len(secrets) > 1 else None)
    return HttpResponse.json(200, view.to_json_dict(), {"Cache-Control": "no-store"})


# --- signed audio links --------------------------------------------------------------


def audio_links(deps: ApiDeps) -> AudioQuery | None:
    """Signs completed jobs' audioUrl; None when ``SIGNING_KEY`` is unset."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        return None
    now = deps.clock()
    ttl = deps.settings.signed_url_ttl_seconds

    def query(record: JobRecord) -> str:
        return audio_link_query(keyring, record.job_id, record.tenant, now, ttl)

    return query


SIGNED_LINK_QUERY = ("expires", "t", "signature")


def check_query(request: HttpRequest, allowed: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take: unknown input is refused, as in bodies."""
    unknown = sorted(name for name in request.query if name not in allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ApiError(400, "unknown_query_parameter", f"unknown query parameter(s): {shown}", field=unknown[0][:100])


def is_signed_link(request: HttpRequest) -> bool:
    return any(name in request.query for name in SIGNED_LINK_QUERY)


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, code, message)


def check_signed_link(request: HttpRequest, deps: ApiDeps, job_id: str) -> int:
    """403 unless the link's signature is valid and unexpired; returns its expiry.

    Needs no lookup: the caller loads the job afterwards and compares its
    tenant with the link's tag (``link_matches``)."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        raise forbidden("invalid_signature", "signed links are not enabled on this deployment")
    expires = request.query_param("expires")
    check = verify_audio_link(
        keyring, job_id, request.query_param("t"), expires, request.query_param("signature"), deps.clock()
    )
    if check is LinkCheck.INVALID:
        raise forbidden("invalid_signature", "the link's signature is not valid for this job")
    if check is LinkCheck.EXPIRED:
        raise forbidden("link_expired", "the link has expired; fetch the job again for a fresh audioUrl")
    return int(expires or 0)


def link_matches(request: HttpRequest, record: JobRecord) -> bool:
    """Whether a valid link's tenant tag is the job's tenant."""
    return request.query_param("t") == tenant_tag(record.tenant)


def signed_cache_control(expires: int, now: float) -> str:
    return f"private, max-age={max(0, min(3600, math.floor(expires - now)))}"
