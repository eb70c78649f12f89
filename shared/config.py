"""Every setting, once: its env name, parser, default and meaning.

A setting is a field of ``Settings`` (read by the Workers and the local runtime
alike) or of ``LocalSettings`` (the local runtime's own host: its queue
consumer, cron loop and HTTP server; on Cloudflare wrangler.toml says these),
declared with ``setting(ENV_NAME, default, parser, doc)``. From those fields
come ``Settings.from_env`` / ``LocalSettings.from_env``, ``SETTING_NAMES`` (what a
Worker reads from its ``env``, what ``tts-pipeline dev --runtime workerd`` passes
on as vars, what ``wrangler.toml.example`` must document) and the README's
configuration table (``python -m tooling.settings_doc``; a config test keeps it
in step). Adding a setting is one field here. docs/architecture.md, "Where
each rule lives".
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shared.errors import ConfigError
from shared.platform_limits import (
    DO_SQL_MAX_ROW_BYTES,
    QUEUE_CONSUMER_WALL_SECONDS,
    QUEUE_MAX_BATCH_SIZE,
    QUEUE_MAX_BATCH_TIMEOUT_SECONDS,
    QUEUE_MAX_CONCURRENCY,
    QUEUE_MAX_DELAY_SECONDS,
    QUEUE_MAX_RETRIES,
    RATE_LIMIT_PERIODS,
    WORKER_CPU_MS_DEFAULT,
    WORKER_CPU_MS_MAX,
    WORKER_MEMORY_BYTES,
    WORKER_SUBREQUESTS,
)
from shared.security import tokens as _tokens
from shared.security.hosts import valid_base_url

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")
# (raw value or None when unset, env name, default) -> value; raises ConfigError.
Parser = Callable[[str | None, str, Any], Any]

MAX_WAIT_TIMEOUT = 900
"""The longest a wait holds a call open, in seconds: ``waitForChange`` on a shard (its payload refuses
more), and so the most ``MAX_WAIT_SECONDS`` and ``SPEECH_WAIT_SECONDS`` may be."""


@dataclass(frozen=True)
class SettingSpec:
    """One row of the settings table."""

    env: str
    parse: Parser
    doc: str  # "" for a field derived from another row's variable (not listed twice)
    shown_default: str  # the default as the docs show it
    secret: bool = False  # a Cloudflare secret, never a var; kept out of repr()


def setting(
    env: str,
    default: Any,
    parse: Parser,
    doc: str,
    *,
    shown: str | None = None,
    secret: bool = False,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field that is also a row of the settings table."""
    spec = SettingSpec(env, parse, doc, shown if shown is not None else _shown(default), secret)
    metadata = {"setting": spec}
    if factory is not None:
        return field(default_factory=factory, repr=not secret, metadata=metadata)
    return field(default=default, repr=not secret, metadata=metadata)


def _shown(default: Any) -> str:
    if default is None or default == () or default == "":
        return "(none)"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, float):
        return f"{default:g}"
    return str(default)


def specs(cls: type) -> list[tuple[str, SettingSpec]]:
    """(field name, spec) for every setting field of ``cls``, in declaration order."""
    return [(f.name, f.metadata["setting"]) for f in dataclasses.fields(cls) if "setting" in f.metadata]


def _from_env(cls: type[T], env: Mapping[str, Any]) -> T:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        spec: SettingSpec | None = f.metadata.get("setting")
        if spec is None:
            continue
        raw = env.get(spec.env)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        values[f.name] = spec.parse(None if raw is None else str(raw), spec.env, default)
    return cls(**values)


# --- parsers: (raw or None, name, default) -> value -------------------------


def text(raw: str | None, name: str, default: str) -> str:
    return default if raw is None else raw


def choice(*allowed: str) -> Parser:
    """One of ``allowed`` (case-insensitive)."""

    def parse(raw: str | None, name: str, default: str) -> str:
        if raw is None:
            return default
        value = raw.strip().lower()
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def integer(minimum: int = 0, maximum: int | None = None) -> Parser:
    def parse(raw: str | None, name: str, default: int) -> int:
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError as exc:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be <= {maximum}, got {value}")
        return value

    return parse


def positive_number(raw: str | None, name: str, default: float) -> float:
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value


def number(minimum: float = 0.0, maximum: float | None = None) -> Parser:
    def parse(raw: str | None, name: str, default: float) -> float:
        if raw is None or raw == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if value < minimum:
            raise ConfigError(f"{name} must be >= {minimum:g}, got {raw!r}")
        if maximum is not None and value > maximum:
            raise ConfigError(f"{name} must be <= {maximum:g}, got {raw!r}")
        return value

    return parse


def boolean(raw: str | None, name: str, default: bool) -> bool:
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def credential(raw: str | None, name: str, default: str | None) -> str | None:
    """A credential: surrounding whitespace (a pasted newline) dropped; blank means unset."""
    value = raw.strip() if raw is not None else None
    return value or default


def http_url(raw: str | None, name: str, default: str) -> str:
    value = (raw or "").strip() or default
    if not value.startswith(("https://", "http://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def base_url(raw: str | None, name: str, default: str | None) -> str | None:
    """``http(s)://host[:port][/path]``: it goes verbatim into every link the API returns."""
    value = (raw or "").strip().rstrip("/")
    if value and not valid_base_url(value, allow_path=True):
        raise ConfigError(f"{name} must be http(s)://host[:port][/path], got {value!r}")
    return value or default


_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def identifiers(raw: str | None, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of plain identifiers."""
    values = tuple(v.strip() for v in (raw or "").split(",") if v.strip())
    bad = [v for v in values if not _NAME.match(v)]
    if bad:
        raise ConfigError(f"{name} must be comma-separated ids of letters, digits, '.', '_' or '-'; got {bad[0]!r}")
    return values or default


def words(raw: str | None, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Comma-separated, lower-cased; set but blank means none."""
    if raw is None:
        return default
    return tuple(w.strip().lower() for w in raw.split(",") if w.strip())


def parse_api_tokens(raw: str | None) -> dict[str, str]:
    """``tenant:token`` or ``tenant:sha256:<hex>`` pairs -> ``{sha256 hex of token: tenant}``."""
    return _tokens.parse_api_tokens(raw)


def token_pairs(raw: str | None, name: str, default: dict[str, str]) -> dict[str, str]:
    return parse_api_tokens(raw)


MIN_KEY_CHARS = 32
"""The shortest ``SIGNING_KEY`` (and previous key) accepted: HMAC-SHA256 keys of 32+ characters."""


def hmac_key(raw: str | None, name: str, default: str | None) -> str | None:
    value = raw.strip() if raw is not None else None
    if not value:
        return default
    if len(value) < MIN_KEY_CHARS:
        raise ConfigError(
            f"{name} must be at least {MIN_KEY_CHARS} characters"
            " (try: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return value


def timestamp(raw: str | None, name: str, default: float | None) -> float | None:
    """Unix seconds or an ISO 8601 date-time (``2026-12-01T00:00:00Z``)."""
    raw = (raw or "").strip()
    if not raw:
        return default
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


def _rate(raw: str | None, name: str) -> tuple[int | None, int | None]:
    """``limit/period`` with the period one the Workers Rate Limiting binding takes; ``0`` turns it off.

    ``(limit, period)``, None for a part the value leaves to its default (unset: both; ``0``
    and ``LIMIT`` alone: the period).
    """
    raw = (raw or "").strip()
    if not raw:
        return (None, None)
    if raw == "0":
        return (0, None)
    limit, sep, period = raw.partition("/")
    try:
        parsed = (int(limit), int(period) if sep else None)
    except ValueError as exc:
        raise ConfigError(f"{name} must be LIMIT/PERIOD such as 100/60, got {raw!r}") from exc
    periods = " or ".join(str(p) for p in RATE_LIMIT_PERIODS)
    if parsed[0] < 0 or parsed[1] not in (None, *RATE_LIMIT_PERIODS):
        raise ConfigError(f"{name}: limit must be >= 0 and period {periods} seconds, got {raw!r}")
    return parsed


def rate_limit(raw: str | None, name: str, default: int) -> int:
    limit = _rate(raw, name)[0]
    return default if limit is None else limit


def rate_period(raw: str | None, name: str, default: int) -> int:
    period = _rate(raw, name)[1]
    return default if period is None else period


# OpenAI's model names -> ours ("": the deployment's default model), and voice
# names -> ours where the chosen model has that voice (docs/openai.md).
DEFAULT_SPEECH_MODEL_MAP = "tts-1=,tts-1-hd=,gpt-4o-mini-tts="
DEFAULT_SPEECH_VOICE_MAP = "echo=low,onyx=low,ash=low,fable=low,nova=high,shimmer=high,coral=high"


def name_pairs(raw: str | None, name: str, default: str | dict[str, str]) -> dict[str, str]:
    """``name=value`` pairs, comma-separated; a value may be empty. Unset: ``default``."""
    if raw is None:
        if isinstance(default, dict):
            return dict(default)
        raw = default
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        # A value is a model id: Workers AI's start with "@" and have slashes ("@cf/deepgram/aura-1").
        model_id = value[1:] if value.startswith("@") else value
        if not sep or not _NAME.match(key) or (value and not _NAME.match(model_id.replace("/", "."))):
            raise ConfigError(f"{name} must be comma-separated name=value pairs (value may be empty); got {item!r}")
        out[key] = value
    return out


def speed_pairs(raw: str | None, name: str, default: dict[str, float]) -> dict[str, float]:
    """``model=number`` pairs, comma separated: characters per second per model."""
    out: dict[str, float] = {}
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        model, _, value = (part.strip() for part in item.partition("="))
        try:
            speed = float(value)
        except ValueError:
            speed = -1.0
        if not _NAME.match(model.replace("/", ".")) or not 0 < speed < float("inf"):
            raise ConfigError(f"{name} must be comma-separated model=number pairs (characters per second); got {item!r}")
        out[model] = speed
    return out or dict(default)


def optional_bytes(raw: str | None, name: str, default: int | None) -> int | None:
    """An integer byte count; unset or 0 means the derived default (None)."""
    return integer(0)(raw, name, 0) or default


# A job's text is one string of its shard's row: at 4 UTF-8 bytes a character a
# fifth of the row's bytes leaves a fifth for the other columns (400,000: 1.6 MB).
MAX_TEXT_CHARS_CEILING = DO_SQL_MAX_ROW_BYTES // 5


@dataclass(frozen=True)
class Settings:
    """What the Workers (and the local runtime, which runs the same code) read from ``env``."""

    shard_count: int = setting(
        "SHARD_COUNT", 4, integer(1), "Durable Object shards (`shard-0`..`N-1`); never lower it once jobs exist")
    default_model: str = setting(
        "DEFAULT_MODEL", "", text,
        "model when a request names none; empty: the best offline model this runtime can run (`piper` where "
        "piper-tts is installed, then `espeak` where libespeak-ng loads: the local runtime; else `tone`), chosen at "
        "start, shown in the start line and as `defaultModel` in `GET /v1/models`. A cloud model is the default "
        "only when named here (they bill per character): the Workers' wrangler.toml names Workers AI's "
        "`@cf/myshell-ai/melotts`", shown="(best available)")
    job_ttl_seconds: int = setting("JOB_TTL_SECONDS", 86_400, integer(1), "how long a finished job and its audio live")
    max_ttl_seconds: int = setting("MAX_TTL_SECONDS", 30 * 86_400, integer(1), "cap on a request's `ttlSeconds`")
    orphan_grace_seconds: int = setting(
        "ORPHAN_GRACE_SECONDS", 3_600, integer(), "the reaper leaves objects younger than this alone")
    max_text_chars: int = setting(
        "MAX_TEXT_CHARS", 100_000, integer(1, MAX_TEXT_CHARS_CEILING),
        f"longest text a job may carry (at most {MAX_TEXT_CHARS_CEILING:,}: the text lives in one Durable Object "
        f"row of {DO_SQL_MAX_ROW_BYTES // 1_000_000} MB)")
    max_input_chars: int = setting(
        "MAX_INPUT_CHARS", 0, integer(),
        "characters per provider request, below each model's own limit (more, shorter chunks); 0: the model's")
    reaper_dry_run: bool = setting("REAPER_DRY_RUN", False, boolean, "the reaper reports, deletes nothing")
    # One reaper run's budget: wall seconds and binding calls (R2, Durable
    # Object RPC, queue), each a subrequest on Cloudflare (docs/reaper.md).
    reaper_max_seconds: int = setting("REAPER_MAX_SECONDS", 20, integer(1), "one reaper run's wall-time budget")
    reaper_max_operations: int = setting(
        "REAPER_MAX_OPERATIONS", 900, integer(10, WORKER_SUBREQUESTS),
        f"one reaper run's subrequest budget (Cloudflare allows {WORKER_SUBREQUESTS:,} an invocation on the Paid plan)")
    # A queued job untouched this long, or a processing job whose lease ran
    # out this long ago, is stuck: re-sent, re-queued, or failed.
    reaper_stuck_seconds: int = setting(
        "REAPER_STUCK_SECONDS", 900, integer(1), "a queued/processing job untouched this long is stuck")
    reaper_give_up_seconds: int = setting(
        "REAPER_GIVE_UP_SECONDS", 86_400, integer(1), "a job not finished this long after creation is failed")
    reaper_sweep_interval_seconds: int = setting(
        "REAPER_SWEEP_INTERVAL_SECONDS", 21_600, integer(), "start a new orphan-sweep pass at most this often")
    lease_seconds: int = setting(
        "LEASE_SECONDS", 20, integer(1),
        "a claimed job's lease, renewed by its worker every quarter of it, so a crashed worker's job is taken "
        "up again within it ([docs/reaper.md](docs/reaper.md#leases-a-crashed-workers-job))")
    retry_base_seconds: int = setting(
        "RETRY_BASE_SECONDS", 10, integer(),
        f"first retry delay, doubling per attempt (capped at Cloudflare's {QUEUE_MAX_DELAY_SECONDS // 3600} h)")
    allow_anonymous: bool = setting(
        "ALLOW_ANONYMOUS", False, boolean,
        "never in production: calls without a token are served (the dev runtimes set it on loopback without "
        "`API_TOKENS`)")
    api_tokens: dict[str, str] = setting(  # sha256 hex of token -> tenant
        "API_TOKENS", None, token_pairs,
        "`tenant:token` or `tenant:sha256:<hex>` pairs, comma separated; `tts-pipeline token new TENANT` makes one",
        secret=True, factory=dict)
    signing_key: str | None = setting(
        "SIGNING_KEY", None, hmac_key,
        f"HMAC key ({MIN_KEY_CHARS}+ characters) for signed audio links and webhook signatures", secret=True)
    # --- trust (docs/security.md) ---
    signing_key_previous: str | None = setting(
        "SIGNING_KEY_PREVIOUS", None, hmac_key, "the old key, still accepted while you rotate", secret=True)
    signing_key_previous_until: float | None = setting(
        "SIGNING_KEY_PREVIOUS_UNTIL", None, timestamp,
        "until when `SIGNING_KEY_PREVIOUS` is accepted (unix seconds or ISO 8601)")
    signed_url_ttl_seconds: int = setting(
        "SIGNED_URL_TTL_SECONDS", 3_600, integer(60), "how long a signed `audioUrl` works (rounded up to 5 min)")
    public_base_url: str | None = setting(
        "PUBLIC_BASE_URL", None, base_url,
        "base of the links the API returns; required for `tts-pipeline dev` on a non-loopback `--host`",
        shown="(request's host if `hostname[:port]`, else relative links)")
    max_body_bytes: int | None = setting(
        "MAX_BODY_BYTES", None, optional_bytes, "request body cap (413)",
        shown="(room for `MAX_TEXT_CHARS` of 4-byte UTF-8, escaped)")
    job_rate_limit: int = setting(
        "JOB_RATE_LIMIT", 100, rate_limit,
        "job creations per tenant per window (`LIMIT/PERIOD`, period 10 or 60 s; `0` turns it off); on "
        "Cloudflare the `JOB_RATE_LIMITER` binding counts and this gives its Retry-After", shown="`100/60`")
    job_rate_period: int = setting("JOB_RATE_LIMIT", 60, rate_period, "")  # the PERIOD of the row above
    max_jobs_in_flight: int = setting(
        "MAX_JOBS_IN_FLIGHT", 100, integer(), "queued + processing jobs per tenant (0: no cap)")
    # Pronunciation lexicons (docs/pronunciation.md): a version is one row of the tenant's lexicon
    # object, so the source is capped far below the 2 MB a Durable Object row holds.
    max_lexicon_bytes: int = setting(
        "MAX_LEXICON_BYTES", 65_536, integer(1, DO_SQL_MAX_ROW_BYTES // 3),
        f"largest lexicon document `PUT /v1/lexicons/{{name}}` takes (bytes; at most {DO_SQL_MAX_ROW_BYTES // 3:,}: a"
        " version is one Durable Object row holding the document and its rules, which take up to 1.7 times as much)")
    max_lexicon_rules: int = setting(
        "MAX_LEXICON_RULES", 1_000, integer(1, 100_000), "rules (PLS lexemes, JSON rules) per lexicon")
    max_lexicons: int = setting("MAX_LEXICONS", 20, integer(1, 100), "lexicons per tenant (at most 100)")
    webhook_schemes: tuple[str, ...] = setting(
        "WEBHOOK_ALLOWED_SCHEMES", ("https",), words, "never in production: webhook URL schemes (tests: `https,http`)",
        shown="https")
    webhook_allowed_hosts: tuple[str, ...] = setting(
        "WEBHOOK_ALLOWED_HOSTS", (), words,
        "never in production: hosts exempt from the private-address refusal (tests: `127.0.0.1`)")
    webhook_max_attempts: int = setting(
        "WEBHOOK_MAX_ATTEMPTS", 6, integer(1, 20), "delivery attempts before a webhook is marked failed (<= 20)")
    webhook_retry_base_seconds: int = setting(
        "WEBHOOK_RETRY_BASE_SECONDS", 30, integer(), "first webhook retry delay, doubling per attempt")
    webhook_timeout_seconds: int = setting(
        "WEBHOOK_TIMEOUT_SECONDS", 10, integer(1), "per webhook delivery attempt")
    # Delivery of finished audio to a customer's presigned PUT URL (shared/delivery.py); the URL
    # policy is the webhooks' (WEBHOOK_ALLOWED_SCHEMES, WEBHOOK_ALLOWED_HOSTS).
    delivery_max_attempts: int = setting(
        "DELIVERY_MAX_ATTEMPTS", 6, integer(1, 20),
        "attempts to PUT a job's audio to its `deliver.url` before the delivery is marked failed (<= 20)")
    delivery_retry_base_seconds: int = setting(
        "DELIVERY_RETRY_BASE_SECONDS", 30, integer(), "first delivery retry delay, doubling per attempt")
    delivery_timeout_seconds: int = setting(
        "DELIVERY_TIMEOUT_SECONDS", 300, integer(1, 840),
        "per delivery attempt, the whole upload included (<= 840: inside a queue consumer's 15 minutes)")
    # Synthesis providers: a provider is offered when its credentials are set
    # (docs/providers.md). Secrets stay out of repr() so a logged Settings never leaks them.
    openai_api_key: str | None = setting("OPENAI_API_KEY", None, credential, "OpenAI's TTS models", secret=True)
    openai_base_url: str = setting("OPENAI_BASE_URL", "https://api.openai.com/v1", http_url, "OpenAI-compatible API base")
    elevenlabs_api_key: str | None = setting(
        "ELEVENLABS_API_KEY", None, credential, "ElevenLabs' models", secret=True)
    elevenlabs_base_url: str = setting("ELEVENLABS_BASE_URL", "https://api.elevenlabs.io", http_url, "ElevenLabs API base")
    elevenlabs_voice_ids: tuple[str, ...] = setting(
        "ELEVENLABS_VOICE_IDS", (), identifiers, "cloned / library voices offered besides the premade ones")
    gemini_api_key: str | None = setting("GEMINI_API_KEY", None, credential, "Gemini's TTS models", secret=True)
    gemini_base_url: str = setting(
        "GEMINI_BASE_URL", "https://generativelanguage.googleapis.com/v1beta", http_url, "Gemini API base")
    cloudflare_account_id: str | None = setting(
        "CLOUDFLARE_ACCOUNT_ID", None, credential, "Workers AI over its REST API (local runtime), with the token below")
    cloudflare_api_token: str | None = setting(
        "CLOUDFLARE_API_TOKEN", None, credential, "Workers AI REST token", secret=True)
    cloudflare_api_base_url: str = setting(
        "CLOUDFLARE_API_BASE_URL", "https://api.cloudflare.com/client/v4", http_url, "Cloudflare API base")
    provider_timeout_seconds: int = setting(
        "PROVIDER_TIMEOUT_SECONDS", 600, integer(1),
        "the longest one provider call may take; each call's own timeout follows its chunk's estimate and the "
        "time its invocation has left ([docs/cloudflare.md](docs/cloudflare.md#worst-cases-against-the-limits))")
    # --- long jobs inside Cloudflare's limits (shared/synthesis/budget.py) ---
    consumer_wall_seconds: int = setting(
        "CONSUMER_WALL_SECONDS", QUEUE_CONSUMER_WALL_SECONDS, integer(5, QUEUE_CONSUMER_WALL_SECONDS),
        "a queue consumer invocation's wall time (Cloudflare: 15 min); the consumer starts no provider call it "
        "cannot finish inside it, and the local runtime cuts an invocation off when it passes")
    worker_memory_mb: int = setting(
        "WORKER_MEMORY_MB", WORKER_MEMORY_BYTES // 1_000_000, integer(16, WORKER_MEMORY_BYTES // 1_000_000),
        "a Worker isolate's memory (Cloudflare: 128 MB); sizes chunks, and the local runtime ends an invocation "
        "whose payloads (held per task, times 3 copies) pass it")
    model_speeds: dict[str, float] = setting(
        "MODEL_SPEEDS", None, speed_pairs,
        "characters per second each model synthesizes, `model=number` pairs, over the catalogue's declared ones "
        "(`charsPerSecond` in `/v1/models`); sizes chunks and deadlines", shown="(declared)", factory=dict)
    chunk_fanout: bool = setting(
        "CHUNK_FANOUT", True, boolean,
        "a long job's chunks go out as queue messages of their own, synthesized in parallel (`0`: one after "
        "another in the job's own delivery)")
    synthesis_cache: str = setting(
        "SYNTHESIS_CACHE", "tenant", choice("tenant", "global", "off"),
        "reuse of synthesized chunks (shared/synthesis/cache.py): `tenant` within each tenant (a tenant never "
        "learns whether another made some audio), `global` across tenants, `off`; a request's `\"cache\": false` "
        "skips it ([docs/architecture.md](docs/architecture.md#synthesis-cache))")
    max_lapsed_claims: int = setting(
        "MAX_LAPSED_CLAIMS", 30, integer(1),
        "a job whose claims lapsed this many times (its Worker died each time) is failed as poison; crashes "
        "never count toward the retry budget")
    # The most audio one job may produce (docs/providers.md, "How long a job may be").
    # Long jobs are assembled in R2 part by part (shared/synthesis/assembly.py), so
    # this bounds storage and time, not a Worker's memory; the ceiling is WAV's
    # 32-bit sizes (R2 itself takes 4.995 TiB an object).
    max_audio_bytes: int = setting(
        "MAX_AUDIO_BYTES", 2 * 1024**3, integer(1, 4_000_000_000),
        "audio one job may produce (2 GiB: about 12 hours of 24 kHz WAV; at most 4,000,000,000, WAV's 32-bit "
        "sizes); long audio streams into R2 in parts, never whole in a Worker's memory", shown="2147483648 (2 GiB)")
    # The legacy base64 /result keeps the audio several times in a Worker's
    # 128 MB (bytes, base64 body, its JS copy); past this it answers 413.
    legacy_result_max_bytes: int = setting(
        "LEGACY_RESULT_MAX_BYTES", 16_000_000, integer(1),
        "largest audio the legacy base64 `/result` carries (413 above: use `/audio`)")

    # --- waiting and OpenAI's speech route (docs/openai.md) ---
    max_wait_seconds: int = setting(
        "MAX_WAIT_SECONDS", 60, integer(0, MAX_WAIT_TIMEOUT), "cap of `Prefer: wait=N` and `GET /v1/jobs/{id}?wait=N` (seconds)")
    max_waiters_per_shard: int = setting(
        "MAX_WAITERS_PER_SHARD", 1000, integer(),
        "waiting calls one Durable Object shard holds open, shared fairly between tenants; a tenant over its"
        " share when the shard is full gets 429 too_many_waiters")
    speech_wait_seconds: int = setting(
        "SPEECH_WAIT_SECONDS", 300, integer(1, MAX_WAIT_TIMEOUT), "how long `POST /v1/audio/speech` waits for its job")
    speech_model_map: dict[str, str] = setting(
        "SPEECH_MODEL_MAP", None, name_pairs,
        "OpenAI model names -> ours, `name=id` pairs (an empty id: the deployment's default model)",
        shown=f"`{DEFAULT_SPEECH_MODEL_MAP}`", factory=lambda: name_pairs(None, "", DEFAULT_SPEECH_MODEL_MAP))
    speech_voice_map: dict[str, str] = setting(
        "SPEECH_VOICE_MAP", None, name_pairs,
        "OpenAI voice names -> ours, used where the chosen model has that voice",
        shown=f"`{DEFAULT_SPEECH_VOICE_MAP}`", factory=lambda: name_pairs(None, "", DEFAULT_SPEECH_VOICE_MAP))

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> Settings:
        return _from_env(cls, env)


_FROM_WRANGLER = "(`workers/synth_consumer/wrangler.toml`)"


@dataclass(frozen=True)
class LocalSettings:
    """The local runtime's host: what wrangler.toml and Cloudflare decide for the Workers."""

    # The queue consumers' settings are synth_consumer's wrangler.toml's, on both dev
    # runtimes (local_runtime/wrangler_config.py); these override the jobs queue's and
    # the chunk queue's (batch size and timeout also their dead-letter queue's).
    queue_max_batch_size: int | None = setting(
        "QUEUE_MAX_BATCH_SIZE", None, integer(1, QUEUE_MAX_BATCH_SIZE),
        "messages per consumer batch (`max_batch_size`)", shown=_FROM_WRANGLER)
    queue_max_batch_timeout: float | None = setting(
        "QUEUE_MAX_BATCH_TIMEOUT", None, number(0, QUEUE_MAX_BATCH_TIMEOUT_SECONDS),
        "seconds a batch waits to fill (`max_batch_timeout`)", shown=_FROM_WRANGLER)
    queue_max_retries: int | None = setting(
        "QUEUE_MAX_RETRIES", None, integer(0, QUEUE_MAX_RETRIES),
        "deliveries of a job message after the first, then the dead-letter queue (`max_retries`)", shown=_FROM_WRANGLER)
    queue_max_concurrency: int | None = setting(
        "QUEUE_MAX_CONCURRENCY", None, integer(1, QUEUE_MAX_CONCURRENCY),
        "job batches the consumer handles at once (`max_concurrency`)", shown=_FROM_WRANGLER)
    queue_wait_when_idle: bool = setting(
        "QUEUE_WAIT_WHEN_IDLE", False, boolean,
        "a batch waits `max_batch_timeout` to fill even when the consumer is idle, as on Cloudflare "
        "(off: an idle consumer starts a batch at once, and waits to fill one only while a batch is in progress)")
    queue_visibility_timeout: float = setting(
        "QUEUE_VISIBILITY_TIMEOUT", 30.0, positive_number,
        "seconds a delivered message stays invisible before a crashed consumer's batch is delivered again")
    cron_interval_seconds: float = setting(
        "CRON_INTERVAL_SECONDS", 300.0, number(), "the reaper's cron loop period (0 turns it off)")
    enforce_cloudflare_limits: bool = setting(
        "ENFORCE_CLOUDFLARE_LIMITS", True, boolean,
        "end an invocation (an api request, a queue batch, a cron run) that passes one of Cloudflare's limits "
        "as Cloudflare does: `CONSUMER_WALL_SECONDS`, `WORKER_CPU_MS`, `WORKER_SUBREQUESTS`, `WORKER_MEMORY_MB` "
        "(`local_runtime/limits.py`); `0` turns it off")
    worker_cpu_ms: int | None = setting(
        "WORKER_CPU_MS", None, integer(1, WORKER_CPU_MS_MAX),
        f"CPU milliseconds per invocation, for every Worker; unset: each Worker's wrangler.toml `[limits] cpu_ms`, "
        f"else Cloudflare's {WORKER_CPU_MS_DEFAULT:,}. Synthesis in the thread pool stands for a provider's "
        "servers and does not count", shown="(each Worker's `[limits] cpu_ms`)")
    worker_subrequests: int = setting(
        "WORKER_SUBREQUESTS", WORKER_SUBREQUESTS, integer(1),
        f"subrequests per invocation: every provider or webhook fetch, R2 operation, queue send and Durable "
        f"Object call (Cloudflare's Paid plan: {WORKER_SUBREQUESTS:,})")
    synthesis_threads: int = setting(
        "SYNTHESIS_THREADS", 0, integer(0, 256),
        "threads that run the offline models' synthesis and MP3 encoding off the event loop (native code: "
        "another core each); 0: one per core", shown="0 (one per core)")
    http_idle_timeout_seconds: float = setting(
        "HTTP_IDLE_TIMEOUT_SECONDS", 5.0, positive_number, "a connection with no request begun this long is closed")
    http_header_timeout_seconds: float = setting(
        "HTTP_HEADER_TIMEOUT_SECONDS", 10.0, positive_number, "a request's head must arrive within this")
    http_body_timeout_seconds: float = setting(
        "HTTP_BODY_TIMEOUT_SECONDS", 30.0, positive_number, "and its body within this after the head")
    http_write_timeout_seconds: float = setting(
        "HTTP_WRITE_TIMEOUT_SECONDS", 30.0, positive_number,
        "a response the client stops reading for this long is cut off (its connection closed)")
    http_max_connections: int = setting(
        "HTTP_MAX_CONNECTIONS", 4096, integer(1), "open connections (lowered to the file limit)")
    local_voices_dir: str = setting(
        "LOCAL_VOICES_DIR", "", text,
        "a folder of Piper voices (`<name>.onnx` + `<name>.onnx.json`, as Piper publishes them): each is a voice "
        "of model `piper`, beside the packaged `en_US-joe-medium`")
    local_voice_threads: int = setting(
        "LOCAL_VOICE_THREADS", 1, integer(0, 64),
        "threads one Piper run uses (0: ONNX Runtime's choice, one a core); a process runs cores / threads at "
        "once. One was fastest on a busy 2-core machine (docs/benchmarks.md)")
    local_voices_loaded: int = setting(
        "LOCAL_VOICES_LOADED", 2, integer(1, 16),
        "Piper voices a process keeps loaded (about 150 MB each for a medium voice; the least recently used is dropped)")

    @classmethod
    def from_env(cls, env: Mapping[str, Any]) -> LocalSettings:
        return _from_env(cls, env)


# Every name ``Settings.from_env`` reads: a Worker passes exactly these from its
# ``env`` (cloudflare_adapters/wiring.py), and ``tts-pipeline dev --runtime
# workerd`` passes these from the environment on as the Workers' vars.
SETTING_NAMES: tuple[str, ...] = tuple(dict.fromkeys(spec.env for _, spec in specs(Settings)))
LOCAL_SETTING_NAMES: tuple[str, ...] = tuple(spec.env for _, spec in specs(LocalSettings))
