"""``POST /v1/audio/speech`` with ``"stream_format": "sse"``: the job's audio as OpenAI's speech events.

The body is ``text/event-stream``; each event is one ``data:`` line of JSON
(OpenAI's "Create speech" stream events, no ``event:`` names):

- ``{"type": "speech.audio.delta", "audio": "<base64>"}``: the next bytes of
  the audio, at most ``DELTA_BYTES`` of them an event. A job made in several
  requests (shared/synthesis/longform.py) sends each chunk as soon as it is
  stored, through the same blocks as ``GET /v1/jobs/{id}/audio?stream=1``
  (shared/api/stream.py); any other job sends its audio once it is completed.
  Decoded and joined, the deltas are the job's audio: ``pcm`` and ``mp3`` byte
  for byte; ``wav`` too, except that a job still being made when the stream
  began gets the streaming header (its two sizes 0xFFFFFFFF, unknown yet);
- ``{"type": "speech.audio.words", "words": [{"word", "start", "end",
  "charStart", "charEnd"}, ...]}`` (our extension, with ``"timestamps":
  "word"``): the words of the audio sent so far, times in seconds of the
  joined audio, offsets into the submitted text, as ``GET
  /v1/jobs/{id}/timestamps`` has them. Per chunk while chunks stream, the rest
  from the job's timings once it is completed;
- ``{"type": "speech.audio.done", "usage": {"input_tokens": 0,
  "output_tokens": 0, "total_tokens": 0, "characters": n}}``: the end. We bill
  characters, not tokens: OpenAI's three token counts are there (its SDKs
  and schema require them) and are 0.

A failure before the first event keeps OpenAI's error shape and status
(``speech.openai_error``: 500 for a failed job, 409 canceled, 504 timeout,
...); a failure after it ends the stream with ``{"type": "error", "error":
{"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from shared.api import sse, stream, waiting
from shared.captions.chunks import chunk_offsets, load_part
from shared.captions.store import load_timings
from shared.words import align_to_text, shift
from shared.http import HttpResponse
from shared.jobs.shard import Get
from shared.models import JobRecord, JobStatus
from shared.ports import ByteRange
from shared.synthesis.speech_plan import cached_job_chunks, warm_lexicons

if TYPE_CHECKING:
    from shared.dependencies import Dependencies
    from shared.text.plan import SpeechPlan

DELTA_BYTES = 32 * 1024  # audio bytes per delta event (43,692 characters of base64)
READ_BLOCK = 1 << 20  # a completed job's audio is read from R2 in ranges of this size

ErrorResponse = Callable[..., HttpResponse]


class _Refused(Exception):
    """Raised by the event generator before its first event: answer with ``response`` instead."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__("refused")
        self.response = response


async def speech_events(
    deps: Dependencies, record: JobRecord, headers: dict[str, str], error: ErrorResponse
) -> HttpResponse:
    """The SSE answer for a submitted speech job (see the module doc); ``error`` makes OpenAI's error answers."""
    events = _events(deps, record, headers, error)
    try:
        first = await events.__anext__()
    except _Refused as refused:
        return refused.response
    return sse.response(_chain(first, events), headers)


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async for item in rest:
        yield item


def _deltas(block: bytes) -> list[bytes]:
    return [
        sse.event({"type": "speech.audio.delta", "audio": base64.b64encode(block[i : i + DELTA_BYTES]).decode("ascii")})
        for i in range(0, len(block), DELTA_BYTES)
    ]


async def _events(
    deps: Dependencies, record: JobRecord, headers: dict[str, str], error: ErrorResponse
) -> AsyncIterator[bytes]:
    job_id = record.job_id
    started = False
    plan = None
    if not record.status.is_terminal:
        await warm_lexicons(deps.jobs, record)  # a job with lexicons is planned from their versions
        plan = stream.chunk_plan(deps, record)
    words = _Words(deps, record, plan[0] if plan else None) if record.timestamps else None
    final: JobRecord | None
    if plan is not None:
        sent: list[int] = []
        done = 0
        async for block in stream.audio_blocks(deps, record, *plan, sent):
            for delta in _deltas(block):
                started = True
                yield delta
            while words is not None and done < len(sent):
                event = await words.chunk(sent[done])
                done += 1
                if event is not None:
                    yield event
        final = await deps.jobs.call(Get(job_id=job_id))
        if final is not None and not final.status.is_terminal:  # every chunk sent; the join is still being written
            final = (await waiting.until_final(deps, record.tenant, job_id, deps.settings.speech_wait_seconds)).record
    else:
        final = record
        if not record.status.is_terminal:
            final = (await waiting.until_final(deps, record.tenant, job_id, deps.settings.speech_wait_seconds)).record
        if final is not None and final.status is JobStatus.COMPLETED and final.audio_key:
            offset, size = 0, final.size_bytes or 0
            while offset < size:
                blob = await deps.bucket.get(final.audio_key, ByteRange(offset, min(READ_BLOCK, size - offset)))
                data = await blob.read() if blob is not None else b""
                if not data:
                    break
                offset += len(data)
                for delta in _deltas(data):
                    started = True
                    yield delta
            if offset < size:
                final = final.model_copy(update={"status": JobStatus.FAILED, "error": "the audio is no longer stored"})

    failure = _failure(deps, job_id, final)
    if failure is not None:
        status, message, code = failure
        if not started:
            raise _Refused(error(status, message, code=code, headers={**headers, "x-should-retry": "false"}))
        yield sse.event({"type": "error", "error": {
            "message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
            "param": None, "code": code,
        }})
        return
    assert final is not None
    if words is not None:
        event = await words.rest(final)
        if event is not None:
            yield event
    usage = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "characters": final.characters}
    yield sse.event({"type": "speech.audio.done", "usage": usage})


def _failure(deps: Dependencies, job_id: str, final: JobRecord | None) -> tuple[int, str, str] | None:
    """(status, message, code) of a job that did not end with its audio; None when it did."""
    if final is None:
        return 404, f"job {job_id} was deleted while it was made", "not_found"
    if final.status is JobStatus.COMPLETED:
        return None
    if final.status is JobStatus.FAILED:
        return 500, f"synthesis failed: {final.error or 'unknown error'} (job {job_id})", "synthesis_failed"
    if final.status is JobStatus.CANCELED:
        return 409, f"job {job_id} was canceled", "job_canceled"
    return 504, (
        f"job {job_id} is still {final.status.value} after SPEECH_WAIT_SECONDS ({deps.settings.speech_wait_seconds} s);"
        f" fetch it later from /v1/jobs/{job_id}/audio"
    ), "timeout"


def _rendered_offsets(plan: SpeechPlan, end: int) -> list[int]:
    """Where each chunk of a rendered job starts in the submitted text: its first caption word (a chunk
    without one starts where the next does; ``end`` after the last)."""
    offsets = [end] * len(plan.chunks)
    following = end
    for index in range(len(plan.chunks) - 1, -1, -1):
        captions = plan.chunks[index].captions()
        if captions:
            following = captions[0].caption.start
        offsets[index] = following
    return offsets


class _Words:
    """``speech.audio.words`` events: per chunk from its kept timings, the rest from the job's timings."""

    def __init__(self, deps: Dependencies, record: JobRecord, plan: str | None) -> None:
        self._deps = deps
        self._record = record
        self._plan = plan
        self._texts: list[str] = []
        self._offsets: list[int] = []
        # A rendered job (SSML, lexicons): its chunks' words carry offsets into the submitted text already,
        # spelled as the user wrote them (its caption words); None: plain text, aligned to each chunk's text.
        self._spelled: dict[tuple[int, int], str] | None = None
        if plan is not None:
            spec = deps.catalogue.validate(record.model).spec
            chunks = cached_job_chunks(record, spec)
            if chunks is not None and chunks.plan is not None:
                self._texts = chunks.texts
                self._offsets = _rendered_offsets(chunks.plan, len(record.text))
                self._spelled = {(c.start, c.end): c.word for c in chunks.plan.captions}
            else:
                self._texts = chunks.texts if chunks is not None else []
                self._offsets = chunk_offsets(record.text, spec.max_input_chars)
        self._next = 0  # the chunk whose words come next
        self._samples = 0  # samples of the chunks before it
        self._from_chunks = plan is not None

    @staticmethod
    def _event(words: list[dict[str, Any]]) -> bytes | None:
        return sse.event({"type": "speech.audio.words", "words": words}) if words else None

    async def chunk(self, index: int) -> bytes | None:
        if not self._from_chunks or index != self._next or self._plan is None:
            return None
        part = await load_part(self._deps.bucket, self._record.job_id, self._plan, index)
        if part is None or not part.sample_rate:
            self._from_chunks = False  # gone (the job completed meanwhile): the rest comes from the job's timings
            return None
        full = self._record.text
        spelled = self._spelled
        if spelled is not None:  # one timing per caption word, offsets into the submitted text
            moved = shift(part.words, self._samples / part.sample_rate, 0)
        else:
            aligned = align_to_text(part.words, self._texts[index], duration=part.samples / part.sample_rate)
            moved = shift(aligned, self._samples / part.sample_rate, self._offsets[index])
        self._samples += part.samples
        self._next += 1
        return self._event([
            {"word": spelled.get((w.char_start, w.char_end), full[w.char_start : w.char_end]) if spelled is not None
             else full[w.char_start : w.char_end],
             "start": round(w.start, 6), "end": round(w.end, 6), "charStart": w.char_start, "charEnd": w.char_end}
            for w in moved
        ])

    async def rest(self, final: JobRecord) -> bytes | None:
        document = await load_timings(self._deps.bucket, final)
        if document is None:
            return None
        if self._offsets and self._next >= len(self._offsets):
            return None  # every chunk's words went already
        first = self._offsets[self._next] if self._offsets else 0
        return self._event([
            w.model_dump(mode="json", by_alias=True) for w in document.words if w.char_start >= first
        ])
