"""The reaper Worker's ports."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import Pipeline, RuntimePorts


def reaper_pipeline(env: Any) -> Pipeline:
    config = settings(env)
    return Pipeline(
        RuntimePorts(
            settings=config,
            jobs=jobs_client(env, config),
            bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
            jobs_queue=QueueProducerAdapter(env.TTS_JOBS),
            clock=time.time,
            webhook_queue=webhook_queue(env),
        )
    )
