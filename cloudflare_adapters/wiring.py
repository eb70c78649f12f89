"""Builds the core's dependencies from a Worker's ``env``, once per isolate: the common part.

Called from inside handlers, never at import: top-level code runs when the
deploy snapshot is taken, where there is no ``env``, clock or randomness.

Each Worker has its own wiring module (``wiring_api``, ``wiring_synth_consumer``,
``wiring_reaper``) so that its entry imports only what that Worker runs:
every import is paid at startup (in the deploy snapshot on Cloudflare) and
takes room in the bundle. Bindings are read only in those modules and in
``wiring_catalogue`` / ``wiring_webhooks``, which Workers import only when
they bind ``AI`` / ``TTS_WEBHOOKS``; tests/config/test_wrangler_configs.py
checks each Worker's wrangler config against exactly what its modules read.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, TypedDict

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.durable_objects import shard_resolver
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.r2 import R2BlobStore
from shared.config import SETTING_NAMES, Settings
from shared.jobs.rpc import JobsClient
from shared.ports import BlobStore, Clock, QueueProducer


class EnvVars(Mapping[str, Any]):
    """Read-only mapping over a Worker ``env``'s string vars and secrets."""

    def __init__(self, env: Any) -> None:
        self._env = raw_binding(env)

    def __getitem__(self, name: str) -> Any:
        value = getattr(self._env, name, None)
        if value is None or not isinstance(value, (str, int, float, bool)):
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(n for n in SETTING_NAMES if n in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def settings(env: Any) -> Settings:
    return Settings.from_env(EnvVars(env))


def jobs_client(env: Any, config: Settings) -> JobsClient:
    return JobsClient(shard_resolver(env.JOBS), config.shard_count)


class CommonPorts(TypedDict):
    """The ports every role has, as ``shared.bootstrap.bootstrap`` takes them."""

    settings: Settings
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer
    clock: Clock


def common_ports(env: Any, config: Settings) -> CommonPorts:
    """What all three Workers bind: the job shards, the audio bucket and the jobs queue."""
    return CommonPorts(
        settings=config,
        jobs=jobs_client(env, config),
        bucket=R2BlobStore(env.TTS_AUDIO_BUCKET),
        queue=QueueProducerAdapter(env.TTS_JOBS),
        clock=time.time,
    )
