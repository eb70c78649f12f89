"""``GET /v1/jobs/{jobId}/audio?input=N``: one input of a multi-input job, as a playable file of its own.

The joined file holds every input's audio, in order, with the gaps between
them (shared/synthesis/inputs.py); its timings object names each input's
byte range (``chapters[N].byteStart``/``byteEnd``). The answer is that range:

- WAV: a new 44-byte header for the range's samples, then the samples,
  read from R2 ``READ_BYTES`` at a time (memory holds one read, whatever
  the length; sent as it is read, so without ``Content-Length``);
- PCM: the range as it is (``Content-Length`` known);
- MP3: the range's frames as they are (each chunk was encoded on its own,
  so an input starts on a frame that needs nothing before it).

A format encoded once from the joined PCM (Opus, AAC, FLAC) has no bytes
that belong to one input: 409 ``input_not_separable`` (ask for wav, pcm or
mp3 to cut inputs). Range requests are not taken on an input (the whole
input is sent); ``If-None-Match`` is.

Errors: 400 ``invalid_input`` (not 0..N-1, or a job without inputs), 409
``not_ready`` before completion, 410 when the audio or its timings are gone.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from shared.api import request_limits
from shared.api.errors import ApiError
from shared.api.ranges import none_match
from shared.captions.store import load_timings
from shared.http import HttpRequest, HttpResponse
from shared.models import JobRecord, JobStatus
from shared.ports import ByteRange
from shared.audio.wav import HEADER_SIZE, wav_header

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

__all__ = ["READ_BYTES", "input_asked", "serve_input"]

READ_BYTES = 1 << 20


def input_asked(request: HttpRequest) -> int | None:
    """The ``input`` query parameter as an index, None when absent; 400 when it is not a whole number."""
    raw = request.query_param("input")
    if raw is None:
        return None
    index = request_limits.ascii_int(raw, max_digits=6)
    if index is None:
        raise ApiError(400, "invalid_input", "input must be the index of one of the job's inputs, from 0", field="input")
    return index


async def serve_input(
    request: HttpRequest, deps: Dependencies, record: JobRecord, index: int, cache_control: str
) -> HttpResponse:
    if not record.input_count:
        raise ApiError(400, "invalid_input", "input: this job was submitted with text, not inputs", field="input")
    if index >= record.input_count:
        raise ApiError(
            400, "invalid_input", f"input must be between 0 and {record.input_count - 1} (the job has"
            f" {record.input_count} inputs)", field="input",
        )
    if record.status is not JobStatus.COMPLETED or not record.audio_key:
        raise ApiError(
            409, "not_ready", f"job is {record.status.value}; audio exists once it is completed",
            extra={"status": record.status.value},
        )
    etag = f'"{record.etag}-input{index}"'
    if none_match(request.headers.get("if-none-match"), etag):
        return HttpResponse.empty(304, {"ETag": etag, "Cache-Control": cache_control})
    document = await load_timings(deps.bucket, record)
    if document is None or not document.chapters or len(document.chapters) <= index:
        raise ApiError(410, "timings_gone", "the chapters of this job are no longer stored")
    chapter = document.chapters[index]
    if chapter.byte_start is None or chapter.byte_end is None:
        raise ApiError(
            409, "input_not_separable",
            f"{record.format} audio is encoded once from the joined inputs, so no bytes of it belong to one input;"
            " submit the job in wav, pcm or mp3 to get inputs on their own (its chapters give each input's times)",
            field="input",
        )
    extension = record.audio_key.rsplit(".", 1)[-1]
    headers = {
        "Content-Type": record.mime_type or "application/octet-stream",
        "ETag": etag,
        "Cache-Control": cache_control,
        "Content-Disposition": f'inline; filename="{record.job_id}-input{index}.{extension}"',
    }
    start, length = chapter.byte_start, chapter.byte_end - chapter.byte_start
    if extension == "wav":
        head = await deps.bucket.get(record.audio_key, ByteRange(0, HEADER_SIZE))
        if head is None:
            raise _gone()
        channels, rate, _, _, bits = struct.unpack_from("<HIIHH", await head.read(), 22)
        header = wav_header(length, rate, channels, bits // 8)
        response = HttpResponse.empty(200, headers)
        response.stream = _wav_blocks(deps, record.audio_key, header, start, length)
        return response
    blob = await deps.bucket.get(record.audio_key, ByteRange(start, length)) if length else None
    if blob is None and length:
        raise _gone()
    headers["Content-Length"] = str(length)
    response = HttpResponse.empty(200, headers)
    response.blob = blob
    return response


async def _wav_blocks(deps: Dependencies, key: str, header: bytes, start: int, length: int) -> AsyncIterator[bytes]:
    yield header
    position, end = start, start + length
    while position < end:
        n = min(READ_BYTES, end - position)
        body = await deps.bucket.get(key, ByteRange(position, n))
        if body is None:
            raise RuntimeError("the audio vanished from R2 while it was sent")
        yield await body.read()
        position += n


def _gone() -> ApiError:
    return ApiError(410, "audio_gone", "the audio of this job is no longer stored")
