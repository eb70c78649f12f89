"""The synth_consumer Worker's dependencies: synthesis (tts-jobs, a long job's work on tts-chunks, their
dead letters), webhook delivery and delivery of audio to customers' buckets (both on tts-webhooks),
through ``shared.bootstrap``."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.fetch import FetchHttpClient
from cloudflare_adapters.fetch_upload import FetchStreamUploader
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.wiring import common_ports, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import bootstrap
from shared.dependencies import Dependencies
from shared.webhooks import MAX_RESPONSE_BYTES


def consumer_dependencies(env: Any) -> Dependencies:
    config = settings(env)
    return bootstrap(
        **common_ports(env, config),
        catalogue=lambda: catalogue(env, config),
        webhook_queue=webhook_queue(env),
        chunk_queue=QueueProducerAdapter(env.TTS_CHUNKS),  # a long job's plan, chunk tasks and assembly
        # No DNS from a Worker: the submit-time URL check is the guard, and
        # fetch() leaves from Cloudflare's network, not yours (docs/security.md).
        http=FetchHttpClient(max_response_bytes=MAX_RESPONSE_BYTES, redirect="manual"),
        uploader=FetchStreamUploader(),
    )
