"""The api Worker's dependencies."""

from __future__ import annotations

import time
import uuid
from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.ratelimit import WorkersRateLimiter
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from shared.api.app import ApiApp, ApiDeps
from shared.config import Settings
from shared.logs import JsonLogger


def api_app(env: Any) -> ApiApp:
    config = settings(env)
    return ApiApp(
        ApiDeps(
            settings=config,
            jobs=jobs_client(env, config),
            bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
            queue=QueueProducerAdapter(env.TTS_JOBS),
            catalogue=catalogue(env),
            clock=time.time,
            new_job_id=lambda: uuid.uuid4().hex,
            log=JsonLogger("api"),
            rate_limiter=rate_limiter(env, config),
        )
    )


def rate_limiter(env: Any, config: Settings) -> WorkersRateLimiter | None:
    """``JOB_RATE_LIMITER`` ([[ratelimits]]) when bound and JOB_RATE_LIMIT is not 0."""
    binding = getattr(raw_binding(env), "JOB_RATE_LIMITER", None)
    if binding is None or config.job_rate_limit <= 0:
        return None
    return WorkersRateLimiter(binding, config.job_rate_period)
