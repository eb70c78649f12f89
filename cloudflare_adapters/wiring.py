"""Builds the core's dependencies from a Worker's ``env``, once per isolate.

Called from inside handlers, never at import: top-level code runs when the
deploy snapshot is taken, where there is no ``env``, clock or randomness.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from cloudflare_adapters.ai import AiBinding
from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.durable_objects import shard_resolver
from cloudflare_adapters.fetch import FetchHttpClient
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.ratelimit import WorkersRateLimiter
from cloudflare_adapters.r2 import R2BlobStore
from shared.api.app import ApiApp, ApiDeps
from shared.config import Settings
from shared.consumer import ConsumerDeps
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.reaper import ReaperDeps
from shared.webhooks import MAX_RESPONSE_BYTES, WebhookDeps, WebhookNotifier
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.providers import build_catalogue

SETTING_NAMES = (
    "SHARD_COUNT",
    "DEFAULT_MODEL",
    "JOB_TTL_SECONDS",
    "MAX_TTL_SECONDS",
    "ORPHAN_GRACE_SECONDS",
    "MAX_TEXT_CHARS",
    "REAPER_DRY_RUN",
    "REAPER_MAX_SECONDS",
    "REAPER_MAX_OPERATIONS",
    "REAPER_STUCK_SECONDS",
    "REAPER_MAX_ATTEMPTS",
    "REAPER_GIVE_UP_SECONDS",
    "REAPER_SWEEP_INTERVAL_SECONDS",
    "LEASE_SECONDS",
    "RETRY_BASE_SECONDS",
    "API_TOKENS",
    "SIGNING_KEY",
    # trust (docs/security.md)
    "SIGNING_KEY_PREVIOUS",
    "SIGNING_KEY_PREVIOUS_UNTIL",
    "SIGNED_URL_TTL_SECONDS",
    "PUBLIC_BASE_URL",
    "MAX_BODY_BYTES",
    "JOB_RATE_LIMIT",
    "MAX_JOBS_IN_FLIGHT",
    "WEBHOOK_ALLOWED_SCHEMES",
    "WEBHOOK_ALLOWED_HOSTS",
    "WEBHOOK_MAX_ATTEMPTS",
    "WEBHOOK_RETRY_BASE_SECONDS",
    "WEBHOOK_TIMEOUT_SECONDS",
    # synthesis providers (docs/providers.md)
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ELEVENLABS_API_KEY",
    "ELEVENLABS_BASE_URL",
    "ELEVENLABS_VOICE_IDS",
    "GEMINI_API_KEY",
    "GEMINI_BASE_URL",
    "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_TOKEN",
    "CLOUDFLARE_API_BASE_URL",
    "PROVIDER_TIMEOUT_SECONDS",
    "MAX_AUDIO_BYTES",
)


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


def catalogue(env: Any) -> Catalogue:
    # eSpeak needs a native library: never on Cloudflare. Workers AI goes
    # through the AI binding when the Worker has one (else the REST API, if
    # CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN are set).
    ai = getattr(raw_binding(env), "AI", None)
    return build_catalogue(settings(env), http=FetchHttpClient(), ai=AiBinding(ai) if ai is not None else None)


def jobs_client(env: Any, config: Settings) -> JobsClient:
    return JobsClient(shard_resolver(env.JOBS), config.shard_count)


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
    )


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


def rate_limiter(env: Any, config: Settings) -> WorkersRateLimiter | None:
    """``JOB_RATE_LIMITER`` ([[ratelimits]]) when bound and JOB_RATE_LIMIT is not 0."""
    binding = getattr(raw_binding(env), "JOB_RATE_LIMITER", None)
    if binding is None or config.job_rate_limit <= 0:
        return None
    return WorkersRateLimiter(binding, config.job_rate_period)


def webhook_notifier(env: Any, config: Settings) -> WebhookNotifier | None:
    """Announces finished jobs on ``TTS_WEBHOOKS`` (synth_consumer's producer binding)."""
    binding = getattr(raw_binding(env), "TTS_WEBHOOKS", None)
    if binding is None:
        return None
    return WebhookNotifier(QueueProducerAdapter(binding), jobs_client(env, config))


def webhook_deps(env: Any) -> WebhookDeps:
    config = settings(env)
    # No DNS from a Worker: the submit-time URL check is the guard, and
    # fetch() leaves from Cloudflare's network, not yours (docs/security.md).
    return WebhookDeps(
        jobs=jobs_client(env, config),
        http=FetchHttpClient(max_response_bytes=MAX_RESPONSE_BYTES, redirect="manual"),
        settings=config,
        clock=time.time,
        log=JsonLogger("synth_consumer"),
    )
