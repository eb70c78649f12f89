"""A job's speech plan: its text or SSML rendered with the lexicon versions it recorded, cut into requests.

A job with ``textType: "ssml"`` or ``lexicons`` is *rendered*
(``shared.text.render``); any other job keeps the plain path (its text cut
by ``chunking.chunk_texts``), unchanged. The plan is a pure function of the
job record, the model's spec and the lexicon versions the record names, so
each chunk can be planned again wherever it is synthesized (another
delivery, another isolate) and comes out the same.

Lexicon versions are immutable (a version is the hash of its rules), so
they are cached per isolate without expiry, up to ``CACHE_BYTES`` of rules;
the last few plans are cached too, so the chunks of one job do not render
its whole text again each time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from shared.errors import PermanentSynthesisError
from shared.jobs.lexicons import LexiconVersions
from shared.models import JobRecord
from shared.text.refs import parse_refs

if TYPE_CHECKING:  # shared.text's renderer is imported when a rendered job needs it, not by every Worker
    from shared.words import CaptionWord
    from shared.jobs.client import JobsClient
    from shared.synthesis.catalogue import ModelSpec
    from shared.text.lexicon import Lexicon
    from shared.text.plan import Chunk, SpeechPlan
    from shared.text.render import Caps
    from shared.synthesis.cache import JobCache
    from shared.synthesis.inputs import InputPlan

__all__ = [
    "JobChunks", "cached_job_chunks", "cached_job_plan", "caps_of", "is_rendered", "job_chunks", "job_plan",
    "remember_lexicon", "render_plan", "warm_lexicons",
]

CACHE_BYTES = 8 * 1024 * 1024
PLANS_KEPT = 8
_LEXICONS: OrderedDict[tuple[str, str, str], tuple[Lexicon, int]] = OrderedDict()
_PLANS: OrderedDict[tuple[object, ...], SpeechPlan] = OrderedDict()
_cached_bytes = 0


def is_rendered(record: JobRecord) -> bool:
    """True for a job whose text goes through ``shared.text.render`` (SSML, or lexicons)."""
    return record.text_type == "ssml" or bool(record.lexicons)


def caps_of(spec: ModelSpec) -> Caps:
    from shared.text.render import Caps

    return Caps(spec.id, phonemes=spec.phonemes, speed=spec.speed_range is not None)


def remember_lexicon(tenant: str, name: str, version: str, canonical: str) -> Lexicon:
    """Parse a version's rules and keep them in this isolate's cache."""
    global _cached_bytes
    key = (tenant, name, version)
    cached = _LEXICONS.get(key)
    if cached is not None:
        _LEXICONS.move_to_end(key)
        return cached[0]
    from shared.text.lexicon import lexicon_from_canonical

    lexicon = lexicon_from_canonical(canonical)
    size = len(canonical)
    _LEXICONS[key] = (lexicon, size)
    _cached_bytes += size
    while _cached_bytes > CACHE_BYTES and len(_LEXICONS) > 1:
        _, (_, dropped) = _LEXICONS.popitem(last=False)
        _cached_bytes -= dropped
    return lexicon


def _cached(tenant: str, refs: Sequence[tuple[str, str]]) -> list[Lexicon] | None:
    out = []
    for name, version in refs:
        cached = _LEXICONS.get((tenant, name, version))
        if cached is None:
            return None
        out.append(cached[0])
    return out


async def lexicons_of(jobs: JobsClient, record: JobRecord) -> list[Lexicon]:
    """The lexicon versions ``record`` names, from the cache or the tenant's lexicon object."""
    refs = parse_refs(record.lexicons)
    cached = _cached(record.tenant, refs)
    if cached is not None:
        return cached
    answer = await jobs.call(LexiconVersions(tenant=record.tenant, refs=refs))
    if answer.get("missing"):
        raise PermanentSynthesisError(
            f"lexicon version {answer['missing'][0]} is no longer kept (a replaced or deleted lexicon's versions are"
            " kept REAPER_GIVE_UP_SECONDS); submit the job again"
        )
    for item in answer.get("found", []):
        remember_lexicon(record.tenant, item["name"], item["version"], item["rules"])
    found = _cached(record.tenant, refs)
    assert found is not None
    return found


def _plan_key(record: JobRecord, spec: ModelSpec) -> tuple[object, ...]:
    return (record.job_id, record.text_type, record.lexicons, record.speed, spec.id, spec.max_input_chars,
            spec.phonemes, tuple(spec.speed_range or ()))


def render_plan(record: JobRecord, spec: ModelSpec, lexicons: Sequence[Lexicon]) -> SpeechPlan:
    """The plan of a rendered job (pure; ``PermanentSynthesisError`` when its text can no longer be rendered)."""
    from shared.text.errors import TextError
    from shared.text.plan import plan_chunks
    from shared.text.render import render

    key = _plan_key(record, spec)
    cached = _PLANS.get(key)
    if cached is not None:
        _PLANS.move_to_end(key)
        return cached
    try:
        rendering = render(record.text, record.text_type or "text", lexicons, caps_of(spec))
        plan = plan_chunks(
            rendering,
            spec.max_input_chars,
            job_speed=record.speed,
            speed_range=(spec.speed_range[0], spec.speed_range[1]) if spec.speed_range else None,
        )
    except TextError as exc:
        raise PermanentSynthesisError(f"the text cannot be rendered for model {spec.id!r}: {exc}") from exc
    if not plan.chunks:
        raise PermanentSynthesisError("the text has nothing to speak")
    _PLANS[key] = plan
    while len(_PLANS) > PLANS_KEPT:
        _PLANS.popitem(last=False)
    return plan


async def job_plan(record: JobRecord, spec: ModelSpec | None, jobs: JobsClient) -> SpeechPlan | None:
    """The plan of a rendered job; None for a plain one (or without a spec)."""
    if spec is None or not is_rendered(record):
        return None
    return render_plan(record, spec, await lexicons_of(jobs, record))


def cached_job_plan(record: JobRecord, spec: ModelSpec | None) -> SpeechPlan | None:
    """``job_plan`` from this isolate's cache only (no I/O): None for a plain job, or when a lexicon is not cached."""
    if spec is None or not is_rendered(record):
        return None
    lexicons = _cached(record.tenant, parse_refs(record.lexicons))
    if lexicons is None:
        return None
    try:
        return render_plan(record, spec, lexicons)
    except PermanentSynthesisError:
        return None


async def warm_lexicons(jobs: JobsClient, record: JobRecord) -> None:
    """Load the record's lexicon versions into the cache so ``cached_job_plan`` can plan it (best effort)."""
    if not record.lexicons:
        return
    try:
        await lexicons_of(jobs, record)
    except Exception:  # noqa: BLE001 - without them the caller serves the finished audio instead
        return


class JobChunks:
    """A job's provider requests, however it is planned: ``texts`` name them (what ``plan_id`` hashes and
    chunk tasks carry: a plain job's chunk texts, a rendered job's chunk keys); ``plan`` is a rendered
    job's plan (None: plain text); ``inputs`` a multi-input job's (shared/synthesis/inputs.py)."""

    __slots__ = ("inputs", "limit", "plan", "texts")

    def __init__(
        self, texts: list[str], limit: int, plan: SpeechPlan | None = None, inputs: InputPlan | None = None
    ) -> None:
        self.texts = texts
        self.limit = limit
        self.plan = plan
        self.inputs = inputs

    def chunk_record(self, record: JobRecord, index: int) -> JobRecord:
        """``record`` as chunk ``index`` is synthesized (a multi-input job's chunk: its input's voice)."""
        if self.inputs is None:
            return record
        from shared.synthesis.inputs import chunk_record

        return chunk_record(record, self.inputs.voices[index])

    def chunk_cache(self, cache: JobCache | None, index: int, source_format: str) -> JobCache | None:
        """The synthesis cache as chunk ``index`` uses it: a multi-input job's chunk under its input's voice,
        or not at all when a gap is added to it (shared/synthesis/inputs.py, ``cacheable``)."""
        if cache is None or self.inputs is None:
            return cache
        from dataclasses import replace

        from shared.synthesis.inputs import cacheable

        if not cacheable(source_format, self.trail_ms(index)):
            return None
        return replace(cache, record=self.chunk_record(cache.record, index))

    def trail_ms(self, index: int) -> int:
        """Silence after chunk ``index`` (a multi-input job's gap after an input's last chunk)."""
        return self.inputs.trail_ms[index] if self.inputs is not None else 0

    def planned(self, index: int) -> Chunk | None:
        """Chunk ``index`` of a rendered job (its request, pauses, caption words); None for plain text."""
        return self.plan.chunks[index] if self.plan is not None else None

    def timing_offsets(self) -> list[int] | None:
        """Where each chunk's words start in the submitted text, for ``ChunkTimings``: a rendered chunk's
        words carry their offsets already (0); None: computed from the plain text."""
        if self.inputs is not None:
            return self.inputs.offsets
        return [0] * len(self.texts) if self.plan is not None else None

    @property
    def captions(self) -> tuple[CaptionWord, ...] | None:
        return self.plan.captions if self.plan is not None else None


def _plain(record: JobRecord, spec: ModelSpec) -> JobChunks:
    if record.inputs:
        from shared.synthesis.inputs import input_plan

        plan = input_plan(record, spec.max_input_chars)
        return JobChunks(plan.texts, spec.max_input_chars, inputs=plan)
    from shared.text.chunking import chunk_texts

    # A job that uses the synthesis cache is cut where edits elsewhere leave its boundaries alone.
    stable = record.cache_scope is not None
    return JobChunks(chunk_texts(record.text, spec.max_input_chars, stable=stable), spec.max_input_chars)


async def job_chunks(record: JobRecord, spec: ModelSpec | None, jobs: JobsClient) -> JobChunks:
    """The job's requests (no I/O for plain text; a rendered job's lexicon versions may be fetched)."""
    if spec is None:
        return JobChunks([], 0)
    if record.inputs and is_rendered(record):  # the API refuses these
        raise PermanentSynthesisError("a job with inputs is plain text: SSML and lexicons are not applied to inputs")
    plan = await job_plan(record, spec, jobs)
    if plan is not None:
        return JobChunks(plan.keys(), spec.max_input_chars, plan)
    return _plain(record, spec)


def cached_job_chunks(record: JobRecord, spec: ModelSpec) -> JobChunks | None:
    """``job_chunks`` without I/O: None for a rendered job whose lexicon versions this isolate has not cached."""
    if not is_rendered(record):
        return _plain(record, spec)
    plan = cached_job_plan(record, spec)
    return JobChunks(plan.keys(), spec.max_input_chars, plan) if plan is not None else None
