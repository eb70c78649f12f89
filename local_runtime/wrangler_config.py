"""The Workers' deployed wrangler configs, as the dev runtimes read them: the queue consumers' one source,
and each Worker's CPU limit.

``workers/synth_consumer/wrangler.toml`` says how each queue is consumed on
Cloudflare (batch size, batch timeout, retries, concurrency, dead-letter
queue). The local runtime builds its ``QueueConsumerConfig``s from it and
``tts-pipeline dev --runtime workerd`` passes it to wrangler, both with the
same overrides: ``QUEUE_MAX_*`` (``shared.config.LocalSettings``), when set,
replace the jobs queue's and the chunk queue's values, and their batch size
and timeout also the dead-letter queue's, so a test or a bench can shorten
the waits. A Worker's ``[limits] cpu_ms`` is the CPU limit the local runtime
enforces on its invocations (``WORKER_CPU_MS`` overrides it for every Worker).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local_runtime.bindings.queue_types import QueueConsumerConfig
from shared.bootstrap import CHUNK_QUEUE, DEAD_LETTER_QUEUE, JOBS_QUEUE
from shared.config import LocalSettings
from shared.platform_limits import QUEUE_MAX_CONCURRENCY, WORKER_CPU_MS_DEFAULT

REPO = Path(__file__).resolve().parents[1]
CONSUMER_WORKER = "synth_consumer"
"""The Worker whose config declares every queue consumer."""

# LocalSettings field -> the consumer key it overrides, and the queues it overrides it on.
QUEUE_OVERRIDES: dict[str, tuple[str, tuple[str, ...]]] = {
    "queue_max_batch_size": ("max_batch_size", (JOBS_QUEUE, CHUNK_QUEUE, DEAD_LETTER_QUEUE)),
    "queue_max_batch_timeout": ("max_batch_timeout", (JOBS_QUEUE, CHUNK_QUEUE, DEAD_LETTER_QUEUE)),
    "queue_max_retries": ("max_retries", (JOBS_QUEUE, CHUNK_QUEUE)),
    "queue_max_concurrency": ("max_concurrency", (JOBS_QUEUE, CHUNK_QUEUE)),
}
_CONSUMER_KEYS = ("max_batch_size", "max_batch_timeout", "max_retries", "dead_letter_queue", "retry_delay")


def wrangler_config(worker: str, repo: Path = REPO) -> dict[str, Any]:
    """``workers/<worker>/wrangler.toml``, parsed."""
    return tomllib.loads((repo / "workers" / worker / "wrangler.toml").read_text())


def worker_cpu_ms(worker: str, env: Mapping[str, str], repo: Path = REPO) -> int:
    """CPU milliseconds of one invocation of ``worker``: ``WORKER_CPU_MS`` if set, else its
    ``[limits] cpu_ms``, else Cloudflare's default."""
    override = LocalSettings.from_env(env).worker_cpu_ms
    if override is not None:
        return override
    return int(wrangler_config(worker, repo).get("limits", {}).get("cpu_ms", WORKER_CPU_MS_DEFAULT))


def consumers_of(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The config's ``[[queues.consumers]]`` tables."""
    return list(config.get("queues", {}).get("consumers", []))


def with_overrides(consumer: Mapping[str, Any], local: LocalSettings) -> dict[str, Any]:
    """A ``[[queues.consumers]]`` table with the ``QUEUE_MAX_*`` overrides that apply to its queue."""
    out = dict(consumer)
    for name, (key, queues) in QUEUE_OVERRIDES.items():
        value = getattr(local, name)
        if value is not None and consumer.get("queue") in queues:
            out[key] = value
    return out


def queue_consumer_config(consumer: Mapping[str, Any]) -> QueueConsumerConfig:
    """The local runner's settings for a ``[[queues.consumers]]`` table (Cloudflare's defaults where it is silent).

    An unset ``max_concurrency`` is what Cloudflare does with one: as many
    invocations as the backlog needs, up to ``QUEUE_MAX_CONCURRENCY``.
    """
    known = {key: consumer[key] for key in _CONSUMER_KEYS if key in consumer}
    return QueueConsumerConfig(**known, max_concurrency=consumer.get("max_concurrency", QUEUE_MAX_CONCURRENCY))


def queue_consumer_configs(env: Mapping[str, str], repo: Path = REPO) -> dict[str, QueueConsumerConfig]:
    """Each queue the synth_consumer Worker consumes -> how the local runtime consumes it."""
    local = LocalSettings.from_env(env)
    return {
        str(consumer["queue"]): dataclasses.replace(
            queue_consumer_config(with_overrides(consumer, local)), wait_when_idle=local.queue_wait_when_idle
        )
        for consumer in consumers_of(wrangler_config(CONSUMER_WORKER, repo))
    }
