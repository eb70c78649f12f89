"""Synthesizing one job, however long its text: chunk, synthesize, keep, join.

``synthesize_job`` is what the consumer calls for a claimed job. Text that
fits the model's ``max_input_chars`` is one request. Longer text
is cut by ``chunking.chunk_texts`` and synthesized chunk by chunk, in order:

1. every chunk's audio is stored at once under ``tmp/<jobId>/<plan>/`` in R2
   (``shared.keys.chunk_key``), and the job's progress (chunks done / total,
   characters billed) is recorded on its shard, which also renews its lease;
2. a retry (after a 429, a crash, a lost lease) lists that prefix and only
   synthesizes the chunks that are missing, so nothing is paid for twice;
3. once all chunks are there they are assembled into the job's audio object
   (``shared.synthesis.assembly``: WAV and PCM sample-exactly with one header
   for the total length, MP3 frame by frame), streamed from the stored chunks
   into an R2 multipart upload part by part, so memory holds about one part
   and one read whatever the length; a crash between parts resumes the
   upload. A format whose files cannot be joined (Ogg Opus, AAC, FLAC) but
   that the model's synthesizer encodes from its PCM keeps the chunks as PCM
   (``chunk_source``) and encodes the joined PCM once instead
   (``shared.synthesis.encoded_assembly``). The result comes back with ``stored`` set (the consumer completes
   the job with it, no put of its own). Once the job is final the consumer
   calls ``discard_chunks``, which deletes the chunks by key (no listing: R2
   deletes are free, lists are class A operations) and aborts an upload left
   behind.

Per chunk, one place (``_synthesize_chunk``) synthesizes, measures and keeps
the chunk; what else a chunk needs (word timings, say) belongs there.

A job with SSML or lexicons (``shared.synthesis.speech_plan``) is planned
by its rendering instead: one chunk per provider request with the pauses
around it (``shared.text.plan``), each synthesized by
``shared.synthesis.rendered.synthesize_planned``; the plan's keys stand in
for the texts (plan id, resume, chunk tasks), and its caption words go with
the result. In a format encoded from PCM (``chunk_source``) its chunks are
PCM with their pauses, encoded once as above; a rendered job of one request
with pauses is padded in PCM and encoded in memory (``encoding.encode_result``).

A job that asked for word timings (``record.timestamps``) also gets them
per chunk through one hook, ``shared.captions.chunks.ChunkTimings``: kept
beside each chunk before its audio (so a stored chunk has its timings and a
retry redoes neither), and shifted into the joined audio at the end.

A job that uses the synthesis cache (``shared.synthesis.cache``) keeps each
chunk as a cache entry (``chunk_home``) instead of under ``tmp/``: a chunk
already cached is read from there (no provider call), one synthesized here
is written there, and the assembly joins the entries into the job's own
object as it joins ``tmp/`` chunks; ``discard_chunks`` never touches them
(the reaper expires them).

If the job stops being ``processing`` (canceled or deleted) the loop stops
before paying for another chunk (and the assembly stops between parts).
Audio beyond ``MAX_AUDIO_BYTES`` (the API refuses jobs estimated above it;
this catches a wrong estimate) fails the job.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from shared.captions.chunks import ChunkTimings
from shared.words import shift
from shared.config import Settings
from shared.errors import JobNotFoundError, PermanentSynthesisError, SynthesisError
from shared.jobs.rpc import JobsClient
from shared.jobs.shard import Progress
from shared.keys import audio_key, chunk_key, chunk_timings_key, object_metadata, parse_chunk_key, tmp_prefix
from shared.logs import JsonLogger
from shared.models import JobRecord, JobStatus
from shared.platform_limits import R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST
from shared.ports import BlobInfo, BlobStore, SynthesisRequest, SynthesisResult, Synthesizer
from shared.synthesis.assembly import Chunk, assemble, discard_upload
from shared.audio.kinds import AudioKind, BadAudioError, PartLayout, identify, join_layout, part_layout
from shared.synthesis.budget import Pacer
from shared.synthesis.cache import JobCache
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.encoded_assembly import assemble_encoded
from shared.synthesis.encoding import StreamingEncoder, encode_result
from shared.audio.errors import AudioFormatMismatchError, Mp3FormatError, WavFormatError
from shared.audio.formats import JOINABLE_FORMATS
from shared.synthesis.inputs import ChunkSpan, chapters, span_of_layout
from shared.synthesis.silence import PadError, pad
from shared.captions.measure import audio_samples
from shared.synthesis.speech_plan import JobChunks, cached_job_chunks, job_chunks

if TYPE_CHECKING:  # a rendered job's modules load with its first plan (shared/synthesis/speech_plan.py)
    from shared.text.plan import Chunk as PlannedChunk

__all__ = [
    "chunk_home", "chunk_source", "discard_all_chunks", "discard_chunks", "paced_synthesis", "plan_id", "stored_chunks",
    "synthesize_chunk", "synthesize_job",
]


def _request(record: JobRecord, text: str, pacer: Pacer | None = None) -> SynthesisRequest:
    return SynthesisRequest(
        timeout_seconds=pacer.timeout(len(text)) if pacer is not None else None,
        text=text,
        model=record.model,
        voice=record.voice_id,
        format=record.format,
        sample_rate=record.sample_rate,
        speed=record.speed,
        instructions=record.instructions,
        timestamps=record.timestamps is not None,
    )


def plan_id(record: JobRecord, texts: list[str], limit: int) -> str:
    """16 hex digits naming everything the chunks' audio depends on."""
    basis = [1, record.model, record.voice_id, record.format, record.sample_rate, record.speed, record.instructions, limit, texts]
    # Chunks made with timings differ (so do their requests); without timings the basis has no such entry.
    if record.timestamps is not None:
        basis.append(record.timestamps)
    if record.inputs is not None:  # a multi-input job: each input's voice, and the gap after it
        basis += [record.inputs, record.gap_ms]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


async def synthesize_job(
    record: JobRecord,
    synthesizer: Synthesizer,
    spec: ModelSpec | None,
    *,
    jobs: JobsClient,
    bucket: BlobStore,
    settings: Settings,
    log: JsonLogger,
    part_bytes: int | None = None,
    pacer: Pacer | None = None,
    cache: JobCache | None = None,
) -> SynthesisResult:
    """The job's audio as one result (see the module doc). Raises the synthesizer's errors as they are.

    With a ``cache`` (shared/synthesis/cache.py), a long job's chunks are read from and kept in the
    synthesis cache instead of under ``tmp/`` (a one-chunk job's cache is the consumer's).

    With a ``pacer`` (the consumer's), no provider call starts that would not
    finish before the invocation's deadline (``DeadlineReached``), and each
    call's timeout follows its estimate.
    """
    chunks = await job_chunks(record, spec, jobs)  # SSML or lexicons: the rendering's requests
    texts = chunks.texts
    encoder = pcm_encoder(synthesizer, record.format)
    if chunks.plan is not None and len(texts) == 1:
        from shared.synthesis.rendered import synthesize_planned

        planned = chunks.plan.chunks[0]
        if encoder is None or not (planned.lead_ms or planned.trail_ms):
            result = await synthesize_planned(synthesizer, record, planned, pacer)
        else:  # pauses in a format encoded from PCM: the PCM with its silence, encoded once
            pcm = await synthesize_planned(synthesizer, chunk_source(record, synthesizer), planned, pacer)
            result = await encode_result(pcm, encoder)
        return replace(result, captions=chunks.plan.captions)
    if len(texts) <= 1 and chunks.inputs is None:
        result = await paced_synthesis(synthesizer, record, record.text, pacer)
        return result if result.characters else replace(result, characters=len(record.text))
    if record.format not in JOINABLE_FORMATS and encoder is None:  # the API refuses these; an old job may not
        raise PermanentSynthesisError(
            f"the text needs {len(texts)} requests and {record.format} audio cannot be joined; "
            f"use one of {', '.join(JOINABLE_FORMATS)}"
        )
    assert spec is not None
    return await _synthesize_chunks(
        record, synthesizer, texts, spec.max_input_chars, jobs, bucket, settings, log, part_bytes, pacer,
        requests=chunks, encoder=encoder, cache=cache,
    )


def pcm_encoder(synthesizer: Synthesizer, fmt: str) -> StreamingEncoder | None:
    """The encoder that makes ``fmt`` from PCM once a long job's chunks are joined, or once a rendered job's
    pauses are added (None: ``fmt`` is joined and padded as it is)."""
    getter = getattr(synthesizer, "streaming_encoder", None)
    return getter(fmt) if callable(getter) else None


def chunk_source(record: JobRecord, synthesizer: Synthesizer) -> JobRecord:
    """``record`` as its chunks are made: in PCM when the job's format is encoded once the chunks are joined."""
    if pcm_encoder(synthesizer, record.format) is None:
        return record
    return record.model_copy(update={"format": "pcm"})


async def _synthesize_chunks(
    record: JobRecord,
    synthesizer: Synthesizer,
    texts: list[str],
    limit: int,
    jobs: JobsClient,
    bucket: BlobStore,
    settings: Settings,
    log: JsonLogger,
    part_bytes: int | None,
    pacer: Pacer | None,
    *,
    requests: JobChunks | None = None,
    encoder: StreamingEncoder | None = None,
    cache: JobCache | None = None,
) -> SynthesisResult:
    job_id = record.job_id
    source = chunk_source(record, synthesizer)  # what each chunk is
    total = len(texts)
    plan = plan_id(record, texts, limit)
    stored = await stored_chunks(bucket, job_id, plan)
    done = sum(1 for i in stored if i < total)
    billed = record.characters  # what earlier attempts already paid for
    await _progress(jobs, record, done, total, billed, settings, synthesized=0)
    if stored:
        log.info("chunks_resumed", jobId=job_id, plan=plan, stored=done, total=total)
    offsets = requests.timing_offsets() if requests is not None else None
    timings = ChunkTimings(bucket, record, plan, texts, limit, offsets) if record.timestamps else None

    # 1. Every chunk into R2, measured; only one chunk's audio in memory at a time.
    kinds: list[AudioKind] = []
    layouts: list[PartLayout] = []
    chunks: list[Chunk] = []
    spans: list[ChunkSpan] = []  # a multi-input job's: where its inputs and gaps are
    size = 0
    synthesized = 0
    reused = saved = 0
    inputs = requests.inputs if requests is not None else None
    for index, text in enumerate(texts):
        key = chunk_key(job_id, plan, index)
        info = stored.get(index)
        known = await _stored_layout(bucket, info, source)
        span = ChunkSpan.from_metadata(info.custom_metadata.get("span")) if info is not None else None
        if known is not None and inputs is not None and span is None:
            known = None  # stored without its span: synthesize it again
        if known is not None and timings is not None and not await timings.resume(index):
            known = None  # stored without its timings: synthesize it again
        # A multi-input job's chunk: its input's voice; cached only when no gap is added to it.
        chunk_record = requests.chunk_record(record, index) if requests is not None else record
        chunk_cache = requests.chunk_cache(cache, index, source.format) if requests is not None else cache
        if known is None and chunk_cache is not None:
            key = chunk_home(chunk_record, synthesizer, plan, index, text, chunk_cache)
            found = await chunk_cache.find(bucket, key)
            span = span_of_layout(found.layout) if found is not None and inputs is not None else None
            if found is not None and found.layout is not None and (inputs is None or span is not None):
                known = (AudioKind(found.format, found.sample_rate), found.layout, found.etag)
                done += 1
                if found.written_by != job_id:  # made by another job (this job's own tasks write there too)
                    reused += 1
                    saved += found.characters
        if known is None:
            kind, layout, etag, characters, span = await synthesize_chunk(
                chunk_record, synthesizer, bucket, plan, index, total, text, timings, pacer,
                requests.planned(index) if requests is not None else None, cache=chunk_cache, looked_up=True,
                trail_ms=requests.trail_ms(index) if requests is not None else 0,
            )
            billed += characters
            done += 1
            synthesized += 1
            await _progress(jobs, record, done, total, billed, settings, synthesized=synthesized)
        else:
            kind, layout, etag = known
        if kinds and (kind.format, kind.sample_rate) != (kinds[0].format, kinds[0].sample_rate):
            raise PermanentSynthesisError(
                f"chunk {index} came back as {kind.format} at {kind.sample_rate} Hz but chunk 0 as "
                f"{kinds[0].format} at {kinds[0].sample_rate} Hz: the parts cannot be joined"
            )
        kinds.append(kind)
        layouts.append(layout)
        if span is not None:
            spans.append(span)
        chunks.append(Chunk(key, etag))
        size += layout.prefix + layout.length
        if size > settings.max_audio_bytes and encoder is None:  # encoded: checked on the encoded bytes
            raise PermanentSynthesisError(
                f"the audio passed MAX_AUDIO_BYTES ({settings.max_audio_bytes} bytes) after {index + 1} of "
                f"{total} chunks; split the text into several jobs"
            )

    # 2. Assemble: streamed from the chunks into the job's object, part by part.
    try:
        joined = join_layout(kinds[0], layouts)
    except AudioFormatMismatchError as exc:
        raise PermanentSynthesisError(f"the chunks cannot be joined: {exc}") from exc

    async def still_ours() -> None:
        await _progress(jobs, record, done, total, billed, settings, synthesized=synthesized)

    out = kinds[0] if encoder is None else AudioKind(record.format, kinds[0].sample_rate)
    if encoder is None:
        info = await assemble(
            bucket,
            job_id=job_id,
            plan=plan,
            key=audio_key(job_id, record.created_at, out.extension),
            layout=joined,
            chunks=chunks,
            content_type=out.mime_type,
            metadata=object_metadata(record, record.updated_at),
            record_metadata=_chunk_metadata(record),
            still_ours=still_ours,
            log=log,
            part_bytes=part_bytes,
        )
    else:
        info = await assemble_encoded(
            bucket,
            job_id=job_id,
            plan=plan,
            key=audio_key(job_id, record.created_at, out.extension),
            layout=joined,
            chunks=chunks,
            encoder=encoder,
            sample_rate=kinds[0].sample_rate or record.sample_rate or 0,
            content_type=out.mime_type,
            metadata=object_metadata(record, record.updated_at),
            record_metadata=_chunk_metadata(record),
            still_ours=still_ours,
            part_bytes=part_bytes,
            max_bytes=settings.max_audio_bytes,
        )
    log.info("chunks_joined", jobId=job_id, chunks=total, synthesized=synthesized, sizeBytes=info.size)
    words, estimated = timings.joined() if timings is not None else (None, False)
    if words is not None and encoder is not None and kinds[0].sample_rate:
        words = tuple(shift(words, encoder.delay_samples / kinds[0].sample_rate, 0))  # encoded once: one delay
    marks = None
    if inputs is not None:
        rate = kinds[0].sample_rate or record.sample_rate or 0
        if not rate or len(spans) != total:
            raise PermanentSynthesisError(f"the chapters of {record.format} audio cannot be measured")
        marks = tuple(
            chapters(inputs, spans, rate, joined if encoder is None else None,
                     encoder.delay_samples if encoder is not None else 0)
        )
    return SynthesisResult(
        audio=b"",
        mime_type=out.mime_type,
        extension=out.extension,
        sample_rate=kinds[0].sample_rate,
        characters=billed,
        stored=info,
        words=words,
        words_estimated=estimated,
        duration_seconds=_duration(timings, spans, kinds[0].sample_rate),
        captions=requests.captions if requests is not None else None,
        chapters=marks,
        chunks_reused=reused,
        characters_saved=saved,
    )


def _duration(timings: ChunkTimings | None, spans: list[ChunkSpan], rate: int | None) -> float | None:
    if timings is not None:
        return timings.duration_seconds()
    if spans and rate:
        return sum(s.samples + s.gap_samples for s in spans) / rate
    return None


def chunk_home(
    record: JobRecord, synthesizer: Synthesizer, plan: str, index: int, text: str, cache: JobCache | None
) -> str:
    """Where chunk ``index`` is kept: its synthesis-cache entry, or (no cache) ``tmp/<jobId>/<plan>/<index>``.
    ``text`` is the chunk's request (a rendered chunk's key); a chunk made in PCM is cached as PCM."""
    if cache is None:
        return chunk_key(record.job_id, plan, index)
    return cache.key(text, "chunk", chunk_source(record, synthesizer).format)


def _chunk_metadata(record: JobRecord) -> dict[str, str]:
    """What every object under ``tmp/<jobId>/`` carries, so the reaper can judge it from a listing."""
    return {"jobId": record.job_id, "tenant": record.tenant, "createdAt": f"{record.created_at:.3f}"}


async def paced_synthesis(
    synthesizer: Synthesizer, record: JobRecord, text: str, pacer: Pacer | None
) -> SynthesisResult:
    """One provider call for ``text``, started only if it fits the invocation (``pacer``), its speed observed."""
    if pacer is None:
        return await synthesizer.synthesize(_request(record, text))
    pacer.check(len(text))
    started = pacer.started()
    result = await synthesizer.synthesize(_request(record, text, pacer))
    pacer.finished(len(text), started)
    return result


async def synthesize_chunk(
    record: JobRecord,
    synthesizer: Synthesizer,
    bucket: BlobStore,
    plan: str,
    index: int,
    total: int,
    text: str,
    timings: ChunkTimings | None,
    pacer: Pacer | None = None,
    planned: PlannedChunk | None = None,
    *,
    cache: JobCache | None = None,
    looked_up: bool = False,
    trail_ms: int = 0,
) -> tuple[AudioKind, PartLayout, str, int, ChunkSpan | None]:
    """Synthesize chunk ``index``, measure it and keep it in R2: (kind, layout, its ETag, characters billed,
    a multi-input job's span: its speech and the ``trail_ms`` of silence added after it; a chunk with a
    gap is never given a ``cache``: the cache keeps what the provider made, the gap is this job's).

    The one place a chunk passes through whole: a per-chunk step (word timings) goes here.
    Its worst-case audio is held in the invocation's memory gate meanwhile. A job whose format is encoded
    once its chunks are joined makes its chunks in PCM (``chunk_source``), its pauses included.
    ``planned``: the chunk of a rendered job (its request, pauses and caption words; ``text`` is its key).
    """
    home = chunk_home(record, synthesizer, plan, index, text, cache)
    if cache is not None and not looked_up:  # made meanwhile by another job (or an earlier delivery)
        found = await cache.find(bucket, home)
        span = span_of_layout(found.layout) if found is not None and record.input_count else None
        if found is not None and found.layout is not None and (not record.input_count or span is not None):
            return AudioKind(found.format, found.sample_rate), found.layout, found.etag, 0, span
    record = chunk_source(record, synthesizer)
    held = planned.memory_chars() if planned is not None else len(text)
    if trail_ms:  # the audio is copied once while the gap is added; the gap counts as a character a 60 ms
        held = 2 * len(text) + trail_ms // 60
    async with pacer.holding(held) if pacer is not None else contextlib.nullcontext():
        if planned is not None:
            from shared.synthesis.rendered import synthesize_planned

            result = await synthesize_planned(synthesizer, record, planned, pacer)
        else:
            result = await paced_synthesis(synthesizer, record, text, pacer)
        kind = identify(result.audio, record.format, result.sample_rate or record.sample_rate)
        audio, layout = result.audio, _layout(kind, result.audio, index)
        span = None
        if record.input_count:  # a multi-input job's chunk: its speech measured, the gap after it added
            audio, layout, span = _with_gap(kind, audio, layout, trail_ms, index)
        if timings is not None:  # before the audio: a stored chunk always has its timings
            await timings.keep(index, result, kind, trailing_samples=span.gap_samples if span is not None else 0)
        if cache is not None:
            info = await cache.keep(
                bucket, home, audio, content_type=kind.mime_type, fmt=kind.format,
                sample_rate=kind.sample_rate, layout=layout, characters=result.characters or len(text),
            )
            return kind, layout, info.etag, result.characters or len(text), span
        metadata = {
            **_chunk_metadata(record),
            "chunk": f"{index}/{total}",
            "format": kind.format,
            "sampleRate": str(kind.sample_rate or ""),
            "layout": layout.to_metadata(),
        }
        if span is not None:
            metadata["span"] = span.to_metadata()
        info = await bucket.put(home, audio, content_type=kind.mime_type, custom_metadata=metadata)
    return kind, layout, info.etag, result.characters or len(text), span


def _with_gap(
    kind: AudioKind, audio: bytes, layout: PartLayout, trail_ms: int, index: int
) -> tuple[bytes, PartLayout, ChunkSpan]:
    """A multi-input chunk's audio with ``trail_ms`` of silence after it, its layout and its span."""
    measured = audio_samples(kind, audio)
    if measured is None:
        raise PermanentSynthesisError(f"chunk {index}: the length of {kind.format} audio cannot be measured")
    if not trail_ms:
        return audio, layout, ChunkSpan(measured[0], 0, 0)
    try:
        padded = pad(kind, audio, 0, trail_ms)
    except PadError as exc:
        raise PermanentSynthesisError(f"chunk {index}: {exc}") from exc
    padded_layout = _layout(kind, padded, index)
    total = audio_samples(kind, padded)
    assert total is not None
    return padded, padded_layout, ChunkSpan(measured[0], total[0] - measured[0], padded_layout.length - layout.length)


def _layout(kind: AudioKind, audio: bytes, index: int) -> PartLayout:
    try:
        return part_layout(kind, audio)
    except (AudioFormatMismatchError, WavFormatError, Mp3FormatError) as exc:
        raise BadAudioError(f"chunk {index}: {exc}") from exc


async def stored_chunks(bucket: BlobStore, job_id: str, plan: str) -> dict[int, BlobInfo]:
    """index -> listing of the chunks a previous attempt stored under this plan (metadata included)."""
    found: dict[int, BlobInfo] = {}
    cursor: str | None = None
    prefix = f"{tmp_prefix(job_id)}{plan}/"
    while True:
        page = await bucket.list(prefix=prefix, cursor=cursor)
        for info in page.objects:
            parsed = parse_chunk_key(info.key)
            if parsed is not None and parsed[1] == plan:
                found[parsed[2]] = info
        if not page.truncated or not page.cursor:
            return found
        cursor = page.cursor


async def _stored_layout(
    bucket: BlobStore, info: BlobInfo | None, record: JobRecord
) -> tuple[AudioKind, PartLayout, str] | None:
    """Kind, layout and ETag of a stored chunk, from its listing (or, failing that, its bytes); None if absent."""
    if info is None:
        return None
    key = info.key
    meta = info.custom_metadata
    layout = PartLayout.from_metadata(meta.get("layout"))
    fmt = meta.get("format")
    if layout is not None and fmt:
        rate = meta.get("sampleRate")
        return AudioKind(fmt, int(rate) if rate else None), layout, info.etag
    body = await bucket.get(key)
    if body is None:
        return None
    audio = await body.read()
    try:
        kind = identify(audio, record.format, record.sample_rate)
        return kind, part_layout(kind, audio), body.info.etag
    except (SynthesisError, ValueError):
        return None  # unreadable: synthesize it again


async def _progress(
    jobs: JobsClient,
    record: JobRecord,
    done: int,
    total: int,
    billed: int,
    settings: Settings,
    *,
    synthesized: int,
) -> None:
    """Record progress and renew the lease; stop when the job is no longer ours to finish."""
    try:
        current = await jobs.call(
            Progress(
                job_id=record.job_id,
                done=done,
                total=total,
                characters=billed,
                lease_seconds=settings.lease_seconds,
            )
        )
    except JobNotFoundError:
        current = None
    if current is None or current.status is not JobStatus.PROCESSING:
        state = current.status.value if current is not None else "deleted"
        raise PermanentSynthesisError(
            f"the job was {state} while synthesizing; stopped after {done} of {total} chunks "
            f"({synthesized} synthesized by this attempt)"
        )


async def discard_chunks(
    bucket: BlobStore, record: JobRecord, model_spec: Callable[[str], ModelSpec | None]
) -> int:
    """Delete the chunks ``synthesize_job`` stored for ``record`` under its current plan; returns how many keys.

    Deletes by key; one listing of the upload records aborts and removes an
    upload a failed or canceled assembly left (a job in one chunk costs nothing
    here). Never raises: chunks it misses (another plan, an error) are the reaper's.
    """
    try:
        spec = model_spec(record.model)
        if spec is None or not record.text:
            return 0
        chunks = cached_job_chunks(record, spec)  # a rendered job: from the lexicons this isolate has cached
        if chunks is None:
            return 0  # the reaper's
        texts = chunks.texts
        if len(texts) <= 1:
            return 0
        plan = plan_id(record, texts, spec.max_input_chars)
        await discard_upload(bucket, record.job_id, plan)  # an upload left by a failed or canceled assembly
        keys = [chunk_key(record.job_id, plan, i) for i in range(len(texts))]
        if record.timestamps:
            keys += [chunk_timings_key(record.job_id, plan, i) for i in range(len(texts))]
        for start in range(0, len(keys), R2_MAX_KEYS_PER_DELETE):
            await bucket.delete(keys[start : start + R2_MAX_KEYS_PER_DELETE])
        return len(keys)
    except Exception:  # noqa: BLE001 - best effort; leftovers are the reaper's
        return 0


async def discard_all_chunks(bucket: BlobStore, job_id: str) -> int:
    """Delete every chunk under ``tmp/<jobId>/`` (any plan), listing them; returns how many (for the reaper)."""
    deleted = 0
    for _ in range(100):  # 100,000 chunks: far more than any job has
        page = await bucket.list(prefix=tmp_prefix(job_id), limit=min(R2_MAX_KEYS_PER_LIST, R2_MAX_KEYS_PER_DELETE))
        keys = [o.key for o in page.objects]
        if not keys:
            break
        await bucket.delete(keys)
        deleted += len(keys)
        if not page.truncated:
            break
    return deleted
