"""The synth_consumer Worker's dependencies (webhook delivery: ``wiring_webhooks.webhook_deps``)."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from cloudflare_adapters.wiring_webhooks import webhook_notifier
from shared.consumer import ConsumerDeps
from shared.logs import JsonLogger


def consumer_deps(env: Any) -> ConsumerDeps:
    config = settings(env)
    models = catalogue(env)
    return ConsumerDeps(
        jobs=jobs_client(env, config),
        bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
        synthesizer_for=models.synthesizer_for,
        model_spec=models.get,
        settings=config,
        clock=time.time,
        log=JsonLogger("synth_consumer"),
        webhooks=webhook_notifier(env, config),
        queue=QueueProducerAdapter(env.TTS_JOBS),
    )
