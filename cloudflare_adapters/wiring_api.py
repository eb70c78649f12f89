"""The api Worker's ports: its bindings, for ``shared.bootstrap.Pipeline``."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.ratelimit import WorkersRateLimiter
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from shared.bootstrap import Pipeline, RuntimePorts


def api_pipeline(env: Any) -> Pipeline:
    config = settings(env)
    # JOB_RATE_LIMITER ([[ratelimits]]) counts; JOB_RATE_LIMIT gives its Retry-After period.
    limiter = getattr(raw_binding(env), "JOB_RATE_LIMITER", None)
    return Pipeline(
        RuntimePorts(
            settings=config,
            jobs=jobs_client(env, config),
            bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
            jobs_queue=QueueProducerAdapter(env.TTS_JOBS),
            clock=time.time,
            catalogue=lambda: catalogue(env, config),
            rate_limiter=(lambda limit, period: WorkersRateLimiter(limiter, period)) if limiter is not None else None,
        )
    )
