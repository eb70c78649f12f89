"""The synth_consumer Worker's ports: synthesis (tts-jobs and its dead letters) and webhook delivery."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.fetch import FetchHttpClient
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import Pipeline, RuntimePorts
from shared.webhooks import MAX_RESPONSE_BYTES


def consumer_pipeline(env: Any) -> Pipeline:
    config = settings(env)
    return Pipeline(
        RuntimePorts(
            settings=config,
            jobs=jobs_client(env, config),
            bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
            jobs_queue=QueueProducerAdapter(env.TTS_JOBS),
            clock=time.time,
            catalogue=lambda: catalogue(env, config),
            webhook_queue=webhook_queue(env),
            # No DNS from a Worker: the submit-time URL check is the guard, and
            # fetch() leaves from Cloudflare's network, not yours (docs/security.md).
            webhook_http=FetchHttpClient(max_response_bytes=MAX_RESPONSE_BYTES, redirect="manual"),
        )
    )
