"""The reaper Worker's dependencies."""

from __future__ import annotations

import time
from typing import Any

from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from cloudflare_adapters.wiring import jobs_client, settings
from cloudflare_adapters.wiring_webhooks import webhook_notifier
from shared.logs import JsonLogger
from shared.reaper import ReaperDeps


def reaper_deps(env: Any) -> ReaperDeps:
    config = settings(env)
    return ReaperDeps(
        jobs=jobs_client(env, config),
        bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
        queue=QueueProducerAdapter(env.TTS_JOBS),
        settings=config,
        clock=time.time,
        log=JsonLogger("reaper"),
        webhooks=webhook_notifier(env, config),
    )
