"""A submission's outbound URLs (``webhookUrl``, ``deliver``), checked at submit, and the tenant's
webhook secret route. Both URLs pass the same policy (shared/security/urls.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.http import HttpRequest, HttpResponse
from shared.models import CreateJobRequest, WebhookEvent, WebhookSecretView
from shared.security.signing import (
    keyring_of,
    webhook_secrets,
)
from shared.security.urls import UnsafeUrlError, check_webhook_url, url_policy

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

def check_webhook(deps: Dependencies, body: CreateJobRequest) -> None:
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


def check_deliver(deps: Dependencies, body: CreateJobRequest) -> None:
    """422 naming ``deliver.url`` when the URL is refused (the message never repeats the URL: a secret)."""
    if body.deliver is None:
        if body.webhook_events is not None and WebhookEvent.DELIVERY in body.webhook_events:
            raise ApiError(422, "validation_error", "webhookEvents: 'delivery' needs deliver", field="webhookEvents")
        return
    try:
        check_webhook_url(body.deliver.url, url_policy(deps.settings))
    except UnsafeUrlError as exc:
        raise ApiError(422, "unsafe_deliver_url", f"deliver.url: {exc}", field="deliver.url") from exc


def deliver_headers_json(body: CreateJobRequest) -> str | None:
    """``deliver.headers`` as the job stores them (JSON), or None."""
    if body.deliver is None or not body.deliver.headers:
        return None
    return json.dumps(body.deliver.headers, separators=(",", ":"), sort_keys=True)


def webhook_event_list(body: CreateJobRequest) -> str | None:
    if body.webhook_events is None:
        return None
    return ",".join(dict.fromkeys(e.value for e in body.webhook_events))


async def webhook_secret(request: HttpRequest, deps: Dependencies, tenant: str) -> HttpResponse:
    """``GET /v1/webhooks/secret``: the caller's ``whsec_`` secret(s) to verify deliveries with."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        raise ApiError(409, "webhooks_disabled", "this deployment has no SIGNING_KEY, so no webhooks")
    secrets = webhook_secrets(keyring, tenant, deps.clock())
    view = WebhookSecretView(secret=secrets[0], previous_secret=secrets[1] if len(secrets) > 1 else None)
    return HttpResponse.json(200, view.to_json_dict(), {"Cache-Control": "no-store"})
