"""Settings read from a mapping: a Worker's ``env`` or the local environment.

The same names on both runtimes (docs/architecture.md, "Where each rule lives").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.errors import ConfigError
from shared.security import tokens as _tokens
from shared.security.hosts import valid_base_url

# Every name ``Settings.from_env`` reads: a Worker passes exactly these from its
# ``env`` (cloudflare_adapters/wiring.py), and ``tts-pipeline dev --runtime
# workerd`` passes these from the environment on as the Workers' vars.
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
    "ALLOW_ANONYMOUS",
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
    "LEGACY_RESULT_MAX_BYTES",
    # waiting and OpenAI's speech route (docs/openai.md)
    "MAX_WAIT_SECONDS",
    "MAX_WAITERS_PER_SHARD",
    "SPEECH_WAIT_SECONDS",
    "SPEECH_MODEL_MAP",
    "SPEECH_VOICE_MAP",
)


def _get(env: Mapping[str, Any], name: str, default: str | None) -> str | None:
    value = env.get(name)
    if value is None:
        return default
    return str(value)


def _int(env: Mapping[str, Any], name: str, default: int, *, minimum: int = 0) -> int:
    raw = _get(env, name, None)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {value}")
    return value


def _bool(env: Mapping[str, Any], name: str, default: bool) -> bool:
    raw = _get(env, name, None)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _secret(env: Mapping[str, Any], name: str) -> str | None:
    """A credential: surrounding whitespace (a pasted newline) dropped; blank means unset."""
    value = _get(env, name, None)
    value = value.strip() if value is not None else None
    return value or None


def _url(env: Mapping[str, Any], name: str, default: str) -> str:
    value = (_get(env, name, None) or "").strip() or default
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _public_base_url(env: Mapping[str, Any]) -> str | None:
    """``http(s)://host[:port][/path]``: it goes verbatim into every link the API returns."""
    value = (_get(env, "PUBLIC_BASE_URL", None) or "").strip().rstrip("/")
    if value and not valid_base_url(value, allow_path=True):
        raise ConfigError(f"PUBLIC_BASE_URL must be http(s)://host[:port][/path], got {value!r}")
    return value or None


_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def _names(env: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A comma-separated list of plain identifiers."""
    raw = _get(env, name, None) or ""
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    bad = [v for v in values if not _NAME.match(v)]
    if bad:
        raise ConfigError(f"{name} must be comma-separated ids of letters, digits, '.', '_' or '-'; got {bad[0]!r}")
    return values


# OpenAI's model names -> ours ("": the deployment's default model), and voice
# names -> ours where the chosen model has that voice (docs/openai.md).
DEFAULT_SPEECH_MODEL_MAP = "tts-1=,tts-1-hd=,gpt-4o-mini-tts="
DEFAULT_SPEECH_VOICE_MAP = "echo=low,onyx=low,ash=low,fable=low,nova=high,shimmer=high,coral=high"


def _pairs(env: Mapping[str, Any], name: str, default: str) -> dict[str, str]:
    """``name=value`` pairs, comma-separated; a value may be empty."""
    raw = _get(env, name, None)
    out: dict[str, str] = {}
    for item in (default if raw is None else raw).split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _NAME.match(key) or (value and not _NAME.match(value.replace("/", "."))):
            raise ConfigError(f"{name} must be comma-separated name=value pairs (value may be empty); got {item!r}")
        out[key] = value
    return out


def parse_api_tokens(raw: str | None) -> dict[str, str]:
    """``tenant:token`` or ``tenant:sha256:<hex>`` pairs -> ``{sha256 hex of token: tenant}``."""
    return _tokens.parse_api_tokens(raw)


def _signing_key(env: Mapping[str, Any], name: str) -> str | None:
    value = _get(env, name, None)
    value = value.strip() if value is not None else None
    if not value:
        return None
    if len(value) < 32:
        raise ConfigError(f"{name} must be at least 32 characters (try: python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return value


def _timestamp(env: Mapping[str, Any], name: str) -> float | None:
    """Unix seconds or an ISO 8601 date-time (``2026-12-01T00:00:00Z``)."""
    raw = (_get(env, name, None) or "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    from datetime import datetime, timezone

    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"{name} must be unix seconds or an ISO 8601 date-time, got {raw!r}") from exc
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp()


def _rate(env: Mapping[str, Any], name: str, default: tuple[int, int]) -> tuple[int, int]:
    """``limit/period`` with period 10 or 60 (the Workers Rate Limiting binding's); ``0`` turns it off."""
    raw = (_get(env, name, None) or "").strip()
    if not raw:
        return default
    if raw == "0":
        return (0, default[1])
    limit, sep, period = raw.partition("/")
    try:
        parsed = (int(limit), int(period) if sep else 60)
    except ValueError as exc:
        raise ConfigError(f"{name} must be LIMIT/PERIOD such as 100/60, got {raw!r}") from exc
    if parsed[0] < 0 or parsed[1] not in (10, 60):
        raise ConfigError(f"{name}: limit must be >= 0 and period 10 or 60 seconds, got {raw!r}")
    return parsed


def _at_most(value: int, maximum: int, name: str) -> int:
    if value > maximum:
        raise ConfigError(f"{name} must be <= {maximum}, got {value}")
    return value


def _words(env: Mapping[str, Any], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = _get(env, name, None)
    if raw is None:
        return default
    return tuple(w.strip().lower() for w in raw.split(",") if w.strip())


@dataclass(frozen=True)
class Settings:
    shard_count: int = 4
    default_model: str = ""  # "": the best model this runtime can run (Catalogue.default_model)
    job_ttl_seconds: int = 86_400
    max_ttl_seconds: int = 30 * 86_400
    orphan_grace_seconds: int = 3_600
    max_text_chars: int = 100_000
    reaper_dry_run: bool = False
    # One reaper run's budget: wall seconds and binding calls (R2, Durable
    # Object RPC, queue), each a subrequest on Cloudflare (docs/reaper.md).
    reaper_max_seconds: int = 20
    reaper_max_operations: int = 900
    # A queued job untouched this long, or a processing job whose lease ran
    # out this long ago, is stuck: re-sent, re-queued, or failed.
    reaper_stuck_seconds: int = 900
    reaper_max_attempts: int = 4  # claims before a stuck job is failed: 1 + the queue's max_retries
    reaper_give_up_seconds: int = 86_400  # a job not finished this long after creation is failed
    reaper_sweep_interval_seconds: int = 21_600  # start a new orphan sweep pass at most this often
    # A claimed job's lease; the delivery renews it every quarter of it while it
    # works, so a dead Worker's job is free again this many seconds after it died.
    lease_seconds: int = 20
    retry_base_seconds: int = 10
    allow_anonymous: bool = False  # only the local runtime on loopback sets this
    api_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # sha256 hex of token -> tenant
    signing_key: str | None = field(default=None, repr=False)
    # --- trust (docs/security.md) ---
    signing_key_previous: str | None = field(default=None, repr=False)  # accepted until the date below
    signing_key_previous_until: float | None = None
    signed_url_ttl_seconds: int = 3_600
    public_base_url: str | None = None  # for absolute links in webhook payloads
    max_body_bytes: int | None = None  # None: room for MAX_TEXT_CHARS of 4-byte UTF-8, escaped
    job_rate_limit: int = 100  # job creations per tenant per job_rate_period; 0 turns it off
    job_rate_period: int = 60
    max_jobs_in_flight: int = 100  # queued + processing jobs per tenant; 0: no cap
    webhook_schemes: tuple[str, ...] = ("https",)
    webhook_allowed_hosts: tuple[str, ...] = ()  # exempt from the private-address refusal; tests only
    webhook_max_attempts: int = 6
    webhook_retry_base_seconds: int = 30
    webhook_timeout_seconds: int = 10
    # Synthesis providers: a provider is offered when its credentials are set.
    # Secrets stay out of repr() so a logged Settings never leaks them.
    openai_api_key: str | None = field(default=None, repr=False)
    openai_base_url: str = "https://api.openai.com/v1"
    elevenlabs_api_key: str | None = field(default=None, repr=False)
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_voice_ids: tuple[str, ...] = ()  # cloned / library voices offered besides the premade ones
    gemini_api_key: str | None = field(default=None, repr=False)
    gemini_base_url: str = "https://generativelanguage.googleapis.com/v1beta"
    cloudflare_account_id: str | None = None
    cloudflare_api_token: str | None = field(default=None, repr=False)
    cloudflare_api_base_url: str = "https://api.cloudflare.com/client/v4"
    provider_timeout_seconds: int = 60
    # The most audio one job may produce (docs/providers.md, "How long a job may be"):
    # a Worker holds it once in Wasm memory plus one copy on its way to R2, next to
    # Pyodide's own ~38 MB, inside 128 MB.
    max_audio_bytes: int = 32_000_000
    # The legacy base64 /result keeps the audio several times in a Worker's
    # 128 MB (bytes, base64 body, its JS copy); past this it answers 413.
    legacy_result_max_bytes: int = 16_000_000
    # --- waiting and OpenAI's speech route (docs/openai.md) ---
    max_wait_seconds: int = 60  # cap of Prefer: wait=N and ?wait=N
    max_waiters_per_shard: int = 1000  # waiting calls one shard holds open; past it they answer at once
    speech_wait_seconds: int = 300  # how long POST /v1/audio/speech waits for its job
    speech_model_map: dict[str, str] = field(default_factory=lambda: _pairs({}, "", DEFAULT_SPEECH_MODEL_MAP))
    speech_voice_map: dict[str, str] = field(default_factory=lambda: _pairs({}, "", DEFAULT_SPEECH_VOICE_MAP))

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Settings:
        return cls(
            shard_count=_int(env, "SHARD_COUNT", 4, minimum=1),
            default_model=_get(env, "DEFAULT_MODEL", "") or "",
            job_ttl_seconds=_int(env, "JOB_TTL_SECONDS", 86_400, minimum=1),
            max_ttl_seconds=_int(env, "MAX_TTL_SECONDS", 30 * 86_400, minimum=1),
            orphan_grace_seconds=_int(env, "ORPHAN_GRACE_SECONDS", 3_600),
            max_text_chars=_int(env, "MAX_TEXT_CHARS", 100_000, minimum=1),
            reaper_dry_run=_bool(env, "REAPER_DRY_RUN", False),
            reaper_max_seconds=_int(env, "REAPER_MAX_SECONDS", 20, minimum=1),
            reaper_max_operations=_int(env, "REAPER_MAX_OPERATIONS", 900, minimum=10),
            reaper_stuck_seconds=_int(env, "REAPER_STUCK_SECONDS", 900, minimum=1),
            reaper_max_attempts=_int(env, "REAPER_MAX_ATTEMPTS", 4, minimum=1),
            reaper_give_up_seconds=_int(env, "REAPER_GIVE_UP_SECONDS", 86_400, minimum=1),
            reaper_sweep_interval_seconds=_int(env, "REAPER_SWEEP_INTERVAL_SECONDS", 21_600),
            lease_seconds=_int(env, "LEASE_SECONDS", 20, minimum=1),
            retry_base_seconds=_int(env, "RETRY_BASE_SECONDS", 10),
            api_tokens=parse_api_tokens(_get(env, "API_TOKENS", None)),
            allow_anonymous=_bool(env, "ALLOW_ANONYMOUS", False),
            signing_key=_signing_key(env, "SIGNING_KEY"),
            signing_key_previous=_signing_key(env, "SIGNING_KEY_PREVIOUS"),
            signing_key_previous_until=_timestamp(env, "SIGNING_KEY_PREVIOUS_UNTIL"),
            signed_url_ttl_seconds=_int(env, "SIGNED_URL_TTL_SECONDS", 3_600, minimum=60),
            public_base_url=_public_base_url(env),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 0, minimum=0) or None,
            job_rate_limit=_rate(env, "JOB_RATE_LIMIT", (100, 60))[0],
            job_rate_period=_rate(env, "JOB_RATE_LIMIT", (100, 60))[1],
            max_jobs_in_flight=_int(env, "MAX_JOBS_IN_FLIGHT", 100),
            webhook_schemes=_words(env, "WEBHOOK_ALLOWED_SCHEMES", ("https",)),
            webhook_allowed_hosts=_words(env, "WEBHOOK_ALLOWED_HOSTS", ()),
            webhook_max_attempts=_at_most(_int(env, "WEBHOOK_MAX_ATTEMPTS", 6, minimum=1), 20, "WEBHOOK_MAX_ATTEMPTS"),
            webhook_retry_base_seconds=_int(env, "WEBHOOK_RETRY_BASE_SECONDS", 30),
            webhook_timeout_seconds=_int(env, "WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1),
            openai_api_key=_secret(env, "OPENAI_API_KEY"),
            openai_base_url=_url(env, "OPENAI_BASE_URL", "https://api.openai.com/v1"),
            elevenlabs_api_key=_secret(env, "ELEVENLABS_API_KEY"),
            elevenlabs_base_url=_url(env, "ELEVENLABS_BASE_URL", "https://api.elevenlabs.io"),
            elevenlabs_voice_ids=_names(env, "ELEVENLABS_VOICE_IDS"),
            gemini_api_key=_secret(env, "GEMINI_API_KEY"),
            gemini_base_url=_url(env, "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta"),
            cloudflare_account_id=_secret(env, "CLOUDFLARE_ACCOUNT_ID"),
            cloudflare_api_token=_secret(env, "CLOUDFLARE_API_TOKEN"),
            cloudflare_api_base_url=_url(env, "CLOUDFLARE_API_BASE_URL", "https://api.cloudflare.com/client/v4"),
            provider_timeout_seconds=_int(env, "PROVIDER_TIMEOUT_SECONDS", 60, minimum=1),
            max_audio_bytes=_int(env, "MAX_AUDIO_BYTES", 32_000_000, minimum=1),
            legacy_result_max_bytes=_int(env, "LEGACY_RESULT_MAX_BYTES", 16_000_000, minimum=1),
            max_wait_seconds=_at_most(_int(env, "MAX_WAIT_SECONDS", 60), 900, "MAX_WAIT_SECONDS"),
            max_waiters_per_shard=_int(env, "MAX_WAITERS_PER_SHARD", 1000),
            speech_wait_seconds=_at_most(_int(env, "SPEECH_WAIT_SECONDS", 300, minimum=1), 900, "SPEECH_WAIT_SECONDS"),
            speech_model_map=_pairs(env, "SPEECH_MODEL_MAP", DEFAULT_SPEECH_MODEL_MAP),
            speech_voice_map=_pairs(env, "SPEECH_VOICE_MAP", DEFAULT_SPEECH_VOICE_MAP),
        )
