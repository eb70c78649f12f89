"""The synthesis cache: audio of one chunk, kept in R2 under a key naming everything it depends on.

A chunk is what one provider request makes (a short job is one chunk; a long
one is cut by ``shared.text.chunking`` or, rendered, by
``shared.text.plan``). Its audio is a pure function of ``ChunkContent``: the
rendered request (plain text, or a rendered chunk's canonical key with its
phonemes, speed and pauses), model and provider, voice, format, sample rate,
speed, instructions, the lexicon versions, whether timings were asked for,
and what the object holds (``role``: a job's whole audio, or one chunk to be
joined). ``cache_key`` hashes that (SHA-256, canonical JSON) into
``cache/<scope>/<hash>``.

Scope (``SYNTHESIS_CACHE``): ``tenant`` (the default) puts each tenant's
entries under its own prefix (a hash of the tenant id), so a tenant never
finds, nor times, audio another tenant made; ``global`` shares one prefix;
``off`` (or ``"cache": false`` on a request) skips the cache. The scope is
fixed on the job at submit (``JobRecord.cache_scope``), so every delivery of
the job reads and writes the same entries.

The rules:

- An entry is read, never served: a job that reuses one gets its own copy
  (a one-chunk job) or joins it into its own object (a long job), so
  deleting or expiring one job never touches audio another job serves.
- An entry's object carries ``expiresAt`` (custom metadata): written as now
  + the writing job's retention (``ttl_seconds``) + at most one consumer
  invocation's wall time (so a long job's chunks outlive its assembly). A hit
  needs at least ``HIT_MARGIN_SECONDS`` left (a quarter of its life if that is
  shorter; an entry that vanishes mid-join anyway makes the join retry, which
  synthesizes it again), so the reaper (which deletes
  entries past ``expiresAt``, shared/reaper/cache_sweep.py) never deletes one
  a job is about to read; a hit with less than the new job's retention left
  is written again with the later ``expiresAt`` where the bytes are at hand
  (the submit path). The R2 lifecycle rule on ``cache/`` backs the reaper up.
- Lookups are ``head`` (class B); a miss costs nothing more; a write is one
  ``put`` (class A) besides the job's own.

Cloudflare: no I/O here at import; every call takes the request's own bucket.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from shared.audio.kinds import PartLayout

if TYPE_CHECKING:
    from shared.models import JobRecord
    from shared.ports import BlobInfo, BlobStore, SynthesisResult

__all__ = [
    "CACHE_PREFIX", "CHARACTERS_SAVED", "CachedChunk", "ChunkContent", "HIT_MARGIN_SECONDS", "JobCache", "SCOPES", "cache_key", "content_of",
    "entry_expires_at", "job_cache", "keep_job_audio", "lookup", "parse_expires_at", "reuse_job_audio", "scope_for", "store",
]

CACHE_PREFIX = "cache/"
SCOPES = ("tenant", "global", "off")
# A hit needs this long left before its entry expires: the reaper never deletes what a job is about to read.
HIT_MARGIN_SECONDS = 300.0
KEY_VERSION = 1
# The meter's name for provider characters a reuse saved (the local runtime's /__meter).
CHARACTERS_SAVED = "cache.characters_saved"

Role = Literal["job", "chunk"]


def scope_for(setting: str, tenant: str, asked: bool | None) -> str | None:
    """The cache scope a new job uses: ``t-<hash of tenant>``, ``global``, or None (cache skipped)."""
    if asked is False or setting == "off":
        return None
    if setting == "global":
        return "global"
    return "t-" + hashlib.sha256(tenant.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class ChunkContent:
    """Everything one chunk's audio depends on (see the module doc)."""

    request: str  # the text sent, or a rendered chunk's canonical key
    role: Role
    provider: str
    model: str
    voice: str | None
    format: str
    sample_rate: int | None
    speed: float | None
    instructions: str | None
    lexicons: str | None  # "name@version,..." as fixed at submit
    timestamps: str | None

    def digest(self) -> str:
        basis = [
            KEY_VERSION, self.role, self.provider, self.model, self.voice, self.format, self.sample_rate,
            self.speed, self.instructions, self.lexicons, self.timestamps, self.request,
        ]
        raw = json.dumps(basis, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def content_of(record: JobRecord, request: str, role: Role, provider: str, fmt: str | None = None) -> ChunkContent:
    """A job's chunk content; ``fmt`` is the chunk's own format when it differs from the job's (PCM to encode)."""
    return ChunkContent(
        request=request, role=role, provider=provider, model=record.model, voice=record.voice_id,
        format=fmt or record.format, sample_rate=record.sample_rate, speed=record.speed,
        instructions=record.instructions, lexicons=record.lexicons, timestamps=record.timestamps,
    )


def cache_key(scope: str, content: ChunkContent) -> str:
    return f"{CACHE_PREFIX}{scope}/{content.digest()}"


def entry_expires_at(record: JobRecord, now: float, wall_seconds: float) -> float:
    """``expiresAt`` of an entry ``record`` writes (see the module doc)."""
    return now + record.ttl_seconds + min(float(record.ttl_seconds), float(wall_seconds))


def parse_expires_at(info: BlobInfo) -> float | None:
    raw = info.custom_metadata.get("expiresAt")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@dataclass(frozen=True)
class CachedChunk:
    """An entry found by ``lookup``: where it is and what the assembly needs to join it."""

    key: str
    etag: str
    size: int
    format: str
    sample_rate: int | None
    layout: PartLayout | None
    characters: int  # what the provider billed when it was made
    written_by: str  # the job that made it
    expires_at: float


def hit_margin(info: BlobInfo, expires: float) -> float:
    """How long an entry must have left to be a hit: ``HIT_MARGIN_SECONDS``, or a quarter of its life
    when that is shorter (an entry of a one-minute retention still serves the job that wrote it)."""
    return min(HIT_MARGIN_SECONDS, max(0.0, expires - info.uploaded) / 4)


async def lookup(bucket: BlobStore, key: str, now: float) -> CachedChunk | None:
    """The entry at ``key`` if it is there with ``HIT_MARGIN_SECONDS`` to live (one ``head``)."""
    info = await bucket.head(key)
    return _entry(info, now) if info is not None else None


def _entry(info: BlobInfo, now: float) -> CachedChunk | None:
    meta = info.custom_metadata
    expires = parse_expires_at(info)
    fmt = meta.get("format")
    if expires is None or not fmt or expires <= now + hit_margin(info, expires):
        return None
    rate = meta.get("sampleRate")
    try:
        characters = int(meta.get("characters") or 0)
        sample_rate = int(rate) if rate else None
    except ValueError:
        return None
    return CachedChunk(
        key=info.key, etag=info.etag, size=info.size, format=fmt, sample_rate=sample_rate,
        layout=PartLayout.from_metadata(meta.get("layout")), characters=characters,
        written_by=meta.get("jobId", ""), expires_at=expires,
    )


async def store(
    bucket: BlobStore, key: str, audio: bytes, *, content_type: str, fmt: str, sample_rate: int | None,
    layout: PartLayout | None, characters: int, record: JobRecord, expires_at: float,
) -> BlobInfo:
    """Write an entry (one ``put``); writing the same key again only moves its ``expiresAt``."""
    meta = {
        "jobId": record.job_id,
        "format": fmt,
        "sampleRate": str(sample_rate or ""),
        "characters": str(characters),
        "expiresAt": f"{expires_at:.3f}",
    }
    if layout is not None:
        meta["layout"] = layout.to_metadata()
    return await bucket.put(key, audio, content_type=content_type, custom_metadata=meta)


@dataclass(frozen=True)
class JobCache:
    """One job's use of the cache, for one delivery (None from ``job_cache`` when the job skips it)."""

    record: JobRecord
    scope: str
    provider: str
    clock: Callable[[], float]
    wall_seconds: float

    def key(self, request: str, role: Role, fmt: str | None = None) -> str:
        """The entry of one of the job's chunks: ``request`` as sent (or a rendered chunk's key)."""
        return cache_key(self.scope, content_of(self.record, request, role, self.provider, fmt))

    async def find(self, bucket: BlobStore, key: str) -> CachedChunk | None:
        return await lookup(bucket, key, self.clock())

    async def keep(
        self, bucket: BlobStore, key: str, audio: bytes, *, content_type: str, fmt: str, sample_rate: int | None,
        layout: PartLayout | None, characters: int,
    ) -> BlobInfo:
        expires = entry_expires_at(self.record, self.clock(), self.wall_seconds)
        return await store(
            bucket, key, audio, content_type=content_type, fmt=fmt, sample_rate=sample_rate, layout=layout,
            characters=characters, record=self.record, expires_at=expires,
        )


def job_cache(
    record: JobRecord, provider: str | None, clock: Callable[[], float], wall_seconds: float
) -> JobCache | None:
    """The job's cache, or None: skipped at submit, or a job with word timings (kept per job, not cached)."""
    if record.cache_scope is None or record.timestamps or provider is None:
        return None
    return JobCache(record, record.cache_scope, provider, clock, wall_seconds)


async def reuse_job_audio(bucket: BlobStore, cache: JobCache, request: str) -> SynthesisResult | None:
    """A one-chunk job's whole audio from the cache (one ``get``), as a result to store under the job's own
    key; None on a miss. The bytes are one request's audio, bounded by the model's ``max_input_chars``."""
    from shared.ports import SynthesisResult
    from shared.audio.formats import extension_for, mime_type_for

    body = await bucket.get(cache.key(request, "job"))
    if body is None:
        return None
    found = _entry(body.info, cache.clock())
    if found is None:
        return None
    audio = await body.read()
    record = cache.record
    if found.expires_at < entry_expires_at(record, cache.clock(), cache.wall_seconds) - record.ttl_seconds / 2:
        try:  # less than half this job's retention left: written again with the later expiry (bytes at hand)
            await cache.keep(
                bucket, found.key, audio, content_type=body.info.content_type or "application/octet-stream",
                fmt=found.format, sample_rate=found.sample_rate, layout=found.layout, characters=found.characters,
            )
        except Exception:  # noqa: BLE001 - the entry only expires sooner
            pass
    return SynthesisResult(
        audio=audio,
        mime_type=body.info.content_type or mime_type_for(found.format, sample_rate=found.sample_rate),
        extension=extension_for(found.format),
        sample_rate=found.sample_rate,
        characters=0,
        chunks_reused=1 if found.written_by != cache.record.job_id else 0,
        characters_saved=found.characters,
    )


async def keep_job_audio(bucket: BlobStore, cache: JobCache, request: str, result: SynthesisResult) -> None:
    """Keep a one-chunk job's audio as a cache entry (one ``put``; a failure only costs a later hit)."""
    await cache.keep(
        bucket, cache.key(request, "job"), result.audio, content_type=result.mime_type, fmt=cache.record.format,
        sample_rate=result.sample_rate or cache.record.sample_rate, layout=None,
        characters=result.characters or len(request),
    )
