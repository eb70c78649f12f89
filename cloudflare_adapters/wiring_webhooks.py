"""Webhooks: announcing finished jobs (synth_consumer, reaper) and delivering them (synth_consumer)."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.fetch import FetchHttpClient
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.wiring import jobs_client, settings
from shared.config import Settings
from shared.logs import JsonLogger
from shared.webhooks import MAX_RESPONSE_BYTES, WebhookDeps, WebhookNotifier


def webhook_notifier(env: Any, config: Settings) -> WebhookNotifier | None:
    """Announces finished jobs on ``TTS_WEBHOOKS`` (a queue producer binding)."""
    binding = getattr(raw_binding(env), "TTS_WEBHOOKS", None)
    if binding is None:
        return None
    return WebhookNotifier(QueueProducerAdapter(binding), jobs_client(env, config))


def webhook_deps(env: Any) -> WebhookDeps:
    config = settings(env)
    # No DNS from a Worker: the submit-time URL check is the guard, and
    # fetch() leaves from Cloudflare's network, not yours (docs/security.md).
    return WebhookDeps(
        jobs=jobs_client(env, config),
        http=FetchHttpClient(max_response_bytes=MAX_RESPONSE_BYTES, redirect="manual"),
        settings=config,
        clock=time.time,
        log=JsonLogger("synth_consumer"),
    )
