"""``GET /v1/jobs/{id}/audio?stream=1``: the audio while it is made.

A job whose text needs several provider requests is synthesized chunk by
chunk, each chunk stored at once under ``tmp/<jobId>/<plan>/`` in R2
(shared/synthesis/longform.py). This route sends each chunk as soon as it is
stored, in order, as one chunked HTTP body:

- ``wav``: a streaming header first (RIFF and ``data`` sizes 0xFFFFFFFF: the
  length is not known yet; ``shared.audio.wav.streaming_wav_header``),
  then every chunk's samples without its own header;
- ``pcm``: the samples; ``mp3``: the first chunk's ID3 tag, then the frames.

Each chunk is read in pieces (``PIECE_BYTES``) as the client takes them:
where its payload starts and ends comes from the layout the consumer stored
with it (its ``layout`` metadata), so no chunk is held whole in memory.

It does not poll R2 or the shard: when the next chunk is not there yet it
makes one ``waitForChange`` call, which the shard answers when the job's
progress (a chunk stored) or status changes. Once the job is completed the
chunks may be gone (the consumer discards them), so the rest is read from the
joined audio at the byte where the stream stands: the joined file is the
same bytes (a 44-byte WAV header, then the samples in order). A failed,
canceled or deleted job ends the stream where it stands.

A completed job, or one of a single request (no chunks to send early), is
answered with the normal audio once it is completed (``Content-Length``,
ranges and all), waiting at most ``SPEECH_WAIT_SECONDS`` for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from shared.api import waiting
from shared.http import HttpResponse
from shared.jobs.waiters import WaitForChange
from shared.keys import chunk_key
from shared.models import JobRecord, JobStatus
from shared.ports import BlobBody, ByteRange
from shared.audio.kinds import AudioKind, PartLayout, part_layout
from shared.errors import CatalogueError
from shared.audio.formats import JOINABLE_FORMATS, mime_type_for
from shared.synthesis.longform import plan_id
from shared.synthesis.speech_plan import cached_job_chunks
from shared.audio.wav import streaming_wav_header

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

PIECE_BYTES = 64 * 1024
"""The stream goes out in pieces of at most this many bytes, each read from R2 as the client takes
the one before (the server's flow control): a client that does not read holds one piece, never a
chunk (several MB) or the whole audio."""


def chunk_plan(deps: Dependencies, record: JobRecord) -> tuple[str, int] | None:
    """(plan, chunks) of a job synthesized in several requests; None for one of a single request."""
    if record.format not in JOINABLE_FORMATS or not record.text:
        return None
    try:
        spec = deps.catalogue.validate(record.model).spec
    except CatalogueError:
        return None  # a model no longer offered here: only the finished audio
    chunks = cached_job_chunks(record, spec)  # SSML or lexicons: the rendering's (lexicons warmed by the caller)
    if chunks is None:
        return None
    texts = chunks.texts
    if len(texts) <= 1:
        return None
    return plan_id(record, texts, spec.max_input_chars), len(texts)


async def completed_or_409(deps: Dependencies, record: JobRecord) -> JobRecord:
    """The job once completed (waiting ``SPEECH_WAIT_SECONDS`` at most), or the usual 409;
    429 when the tenant holds its share of the shard's waits."""
    if not record.status.is_terminal:
        waited = await waiting.until_final(deps, record.tenant, record.job_id, deps.settings.speech_wait_seconds)
        if waited.busy:
            raise waiting.too_many_waiters()
        record = waited.record or record
    return record


def streamed(deps: Dependencies, record: JobRecord, plan: str, total: int) -> HttpResponse:
    headers = {
        "Content-Type": mime_type_for(record.format, sample_rate=record.sample_rate),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Audio-Stream": f"chunks={total}",
    }
    response = HttpResponse.empty(200, headers)
    response.stream = _chunks(deps, record, plan, total)
    return response


def audio_blocks(
    deps: Dependencies, record: JobRecord, plan: str, total: int, sent: list[int] | None = None
) -> AsyncIterator[bytes]:
    """The body ``streamed`` sends, as blocks; ``sent`` gets the index of each chunk as its block goes
    (the blocks after the last index come from the joined audio). The speech route's SSE wraps it."""
    return _chunks(deps, record, plan, total, sent)


async def _chunks(
    deps: Dependencies, record: JobRecord, plan: str, total: int, sent_chunks: list[int] | None = None
) -> AsyncIterator[bytes]:
    job_id = record.job_id
    sent = 0  # bytes of the body so far: also where the joined file continues
    index = 0
    idle = 0.0
    current = record
    kind = AudioKind(record.format, record.sample_rate)
    while index < total:
        blob = await deps.bucket.get(chunk_key(job_id, plan, index))
        if blob is not None:
            first = True
            async for piece in _chunk_pieces(record, kind, index, blob):
                if first and sent_chunks is not None:
                    sent_chunks.append(index)  # as its audio starts going
                first = False
                sent += len(piece)
                yield piece
            index += 1
            idle = 0.0
            continue
        if current.status is JobStatus.COMPLETED:
            async for block in _rest_of_joined(deps, current, sent):
                yield block
            return
        if current.status.is_terminal:
            return  # failed or canceled: the stream ends where it stands
        if idle >= deps.settings.speech_wait_seconds:
            return  # nothing new for that long: the client may ask again
        seconds = max(1, deps.settings.max_wait_seconds)
        changed, outcome = await deps.jobs.call(
            WaitForChange(
                job_id=job_id,
                timeout=seconds,
                since_status=current.status,
                since_done=current.progress_done,
                tenant=record.tenant,
            )
        )
        if changed is None or outcome == "shutdown":
            return  # deleted, or the server is stopping: the client asks again
        if outcome != "changed":
            idle += seconds
        current = changed


async def _chunk_pieces(
    record: JobRecord, kind: AudioKind, index: int, blob: BlobBody, piece_bytes: int = PIECE_BYTES
) -> AsyncIterator[bytes]:
    """Chunk ``index``'s part of the body, from one read of the chunk: the stream's header first
    (chunk 0), then the chunk's payload, piece by piece."""
    layout = PartLayout.from_metadata(blob.info.custom_metadata.get("layout"))
    if layout is None:  # a chunk stored without its layout: measured from its bytes, held whole
        data = await blob.read()
        layout = part_layout(kind, data)
        if index == 0:
            yield _head(record, layout.signature, data[: layout.prefix])
        end = layout.offset + layout.length
        for start in range(layout.offset, end, piece_bytes):
            yield data[start : min(start + piece_bytes, end)]
        return
    end = layout.offset + layout.length
    position = 0  # of the chunk's bytes read so far
    prefix = b""
    sent_head = index != 0
    pieces = blob.pieces(piece_bytes)
    try:
        async for piece in pieces:
            piece_start, position = position, position + len(piece)
            if not sent_head:
                prefix += piece[: max(0, layout.prefix - piece_start)]
                if position >= layout.offset:
                    sent_head = True
                    yield _head(record, layout.signature, prefix)
            start, stop = max(layout.offset, piece_start), min(end, position)
            if start < stop:
                whole = (start, stop) == (piece_start, position)
                yield piece if whole else piece[start - piece_start : stop - piece_start]
            if position >= end:
                break
    finally:
        await _close(pieces)
    if not sent_head:
        yield _head(record, layout.signature, prefix)


def _head(record: JobRecord, signature: str, prefix: bytes) -> bytes:
    if record.format == "wav":
        rate, channels, width = (int(v) for v in signature.split(":", 1)[1].split("/"))
        return streaming_wav_header(rate, channels, width)
    return prefix  # mp3: the first part's ID3 tag (kept by the join too); pcm: nothing


async def _rest_of_joined(deps: Dependencies, record: JobRecord, offset: int) -> AsyncIterator[bytes]:
    """The joined audio from byte ``offset`` on: one read of R2, passed on piece by piece."""
    size = record.size_bytes or 0
    if not record.audio_key or offset >= size:
        return
    blob = await deps.bucket.get(record.audio_key, ByteRange(offset, size - offset))
    if blob is None:
        return
    pieces = blob.pieces(PIECE_BYTES)
    try:
        async for piece in pieces:
            yield piece
    finally:
        await _close(pieces)


async def _close(pieces: AsyncIterator[bytes]) -> None:
    """Release a body read only in part (its file, or its R2 stream) now, not when collected."""
    close = getattr(pieces, "aclose", None)
    if close is not None:
        await close()

