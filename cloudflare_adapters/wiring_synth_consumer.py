"""The synth_consumer Worker's ports: synthesis (tts-jobs, the chunk tasks on tts-chunks, their dead
letters), webhook delivery and delivery of audio to customers' buckets (both on tts-webhooks)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cloudflare_adapters.fetch import FetchHttpClient
from cloudflare_adapters.fetch_upload import FetchStreamUploader
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.wiring import common_ports
from cloudflare_adapters.wiring_catalogue import catalogue
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import Pipeline
from shared.webhooks import MAX_RESPONSE_BYTES


def consumer_pipeline(env: Any) -> Pipeline:
    ports = common_ports(env)
    return Pipeline(
        replace(
            ports,
            catalogue=lambda: catalogue(env, ports.settings),
            webhook_queue=webhook_queue(env),
            chunk_queue=QueueProducerAdapter(env.TTS_CHUNKS),  # a long job's chunk tasks (shared/fanout.py)
            # No DNS from a Worker: the submit-time URL check is the guard, and
            # fetch() leaves from Cloudflare's network, not yours (docs/security.md).
            webhook_http=FetchHttpClient(max_response_bytes=MAX_RESPONSE_BYTES, redirect="manual"),
            delivery_uploader=FetchStreamUploader(),
        )
    )
