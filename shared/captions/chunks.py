"""Word timings of a job's parts: measured per part, kept beside its chunks, shifted into the joined audio.

A part is what one provider request made (the whole text, or one chunk of a
long job). ``part_timings`` takes its words as the engine reported them
(offsets into the part's text, times from the part's start) or, when the
engine reports none, estimates them from the part's measured length
(``shared.captions.measure``), and counts its samples.

``ChunkTimings`` is the per-chunk hook of ``shared.synthesis.longform``:

- ``keep(index, result, kind)``, after a chunk is synthesized and before its
  audio is stored: its timings go to R2 beside it
  (``shared.keys.chunk_timings_key``), so a retry that finds the chunk's
  audio also finds its timings and does not synthesize it again;
- ``resume(index)`` for a chunk a previous attempt stored: loads them
  (False when they are missing or unreadable: synthesize the chunk again);
- ``joined()``: every chunk's words shifted by the chunk's start in the
  joined audio (the samples of the chunks before it, a whole number, over
  the sample rate: sample-exact) and by the chunk's start in the submitted
  text (``chunk_offsets``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.captions.measure import audio_samples, estimate_words
from shared.words import WordTiming, shift
from shared.errors import PermanentSynthesisError
from shared.keys import chunk_timings_key
from shared.models import JobRecord
from shared.ports import BlobStore, SynthesisResult
from shared.audio.kinds import AudioKind
from shared.text.chunking import split_text

__all__ = ["ChunkTimings", "PartTimings", "chunk_offsets", "load_part", "part_timings"]


@dataclass(frozen=True)
class PartTimings:
    samples: int
    sample_rate: int
    words: tuple[WordTiming, ...]
    estimated: bool


class _StoredPart(BaseModel):
    """A chunk's timings as stored in R2 (times from the chunk's start, offsets into the chunk's text)."""

    model_config = ConfigDict(extra="forbid")

    v: int = 1
    samples: int
    sampleRate: int
    estimated: bool
    words: list[tuple[float, float, int, int]]


async def load_part(bucket: BlobStore, job_id: str, plan: str, index: int) -> PartTimings | None:
    """Chunk ``index``'s kept timings (times from the chunk's start), or None when missing or unreadable."""
    body = await bucket.get(chunk_timings_key(job_id, plan, index))
    if body is None:
        return None
    try:
        stored = _StoredPart.model_validate_json(await body.read())
    except ValidationError:
        return None
    words = tuple(WordTiming(s, e, cs, ce) for s, e, cs, ce in stored.words)
    return PartTimings(stored.samples, stored.sampleRate, words, stored.estimated)


def chunk_offsets(text: str, limit: int) -> list[int]:
    """Where each chunk of ``chunking.chunk_texts(text, limit)`` starts in ``text`` (code points).

    ``split_text``'s pieces join back to ``text``; a chunk is its piece stripped,
    so it starts after the piece's leading whitespace."""
    offsets: list[int] = []
    position = 0
    for piece in split_text(text, limit):
        offsets.append(position + len(piece) - len(piece.lstrip()))
        position += len(piece)
    return offsets


def part_timings(text: str, result: SynthesisResult, kind: AudioKind) -> PartTimings | None:
    """The part's words (the engine's, else estimated) and length; None when its length cannot be read."""
    measured = audio_samples(kind, result.audio)
    if measured is None:
        if result.words is None:
            return None
        return PartTimings(0, 0, result.words, result.words_estimated)
    samples, rate = measured
    if result.words is not None:
        return PartTimings(samples, rate, result.words, result.words_estimated)
    return PartTimings(samples, rate, tuple(estimate_words(text, samples / rate)), True)


class ChunkTimings:
    """The timings of a long job's chunks (see the module doc)."""

    def __init__(
        self,
        bucket: BlobStore,
        record: JobRecord,
        plan: str,
        chunks: list[str],
        limit: int,
        offsets: list[int] | None = None,
    ) -> None:
        self._bucket = bucket
        self._job_id = record.job_id
        self._plan = plan
        self._chunks = chunks
        # Where each chunk starts in the submitted text; given when the chunks' words are not
        # offsets into ``chunk_texts`` of the text (a rendered job's are already absolute: all 0).
        self._offsets = offsets if offsets is not None else chunk_offsets(record.text, limit)
        self._parts: dict[int, PartTimings] = {}
        # What the reaper judges a tmp/ object by (as for the chunks' audio).
        self._metadata = {"jobId": record.job_id, "tenant": record.tenant, "createdAt": f"{record.created_at:.3f}"}

    async def keep(self, index: int, result: SynthesisResult, kind: AudioKind, *, trailing_samples: int = 0) -> None:
        """``trailing_samples``: silence stored after the chunk's audio (a multi-input job's gap), in no word."""
        part = part_timings(self._chunks[index], result, kind)
        if part is None:
            raise PermanentSynthesisError(f"chunk {index}: the length of {kind.format} audio cannot be measured for timings")
        if trailing_samples:
            part = PartTimings(part.samples + trailing_samples, part.sample_rate, part.words, part.estimated)
        stored = _StoredPart(
            samples=part.samples,
            sampleRate=part.sample_rate,
            estimated=part.estimated,
            words=[(w.start, w.end, w.char_start, w.char_end) for w in part.words],
        )
        await self._bucket.put(
            chunk_timings_key(self._job_id, self._plan, index),
            json.dumps(stored.model_dump(), separators=(",", ":")).encode(),
            content_type="application/json",
            custom_metadata={**self._metadata, "chunk": f"{index}/{len(self._chunks)}"},
        )
        self._parts[index] = part

    async def resume(self, index: int) -> bool:
        part = await load_part(self._bucket, self._job_id, self._plan, index)
        if part is None:
            return False
        self._parts[index] = part
        return True

    def keys(self) -> list[str]:
        return [chunk_timings_key(self._job_id, self._plan, i) for i in range(len(self._chunks))]

    def joined(self) -> tuple[tuple[WordTiming, ...], bool]:
        """(every chunk's words in the joined audio and the submitted text, whether any was estimated)."""
        out: list[WordTiming] = []
        samples_before = 0
        estimated = False
        for index in range(len(self._chunks)):
            part = self._parts[index]
            seconds = samples_before / part.sample_rate if part.sample_rate else 0.0
            out.extend(shift(part.words, seconds, self._offsets[index]))
            samples_before += part.samples
            estimated = estimated or part.estimated
        return tuple(out), estimated

    def duration_seconds(self) -> float | None:
        """The joined audio's length, from every chunk's measured samples (None if a rate is unknown)."""
        parts = [self._parts[i] for i in range(len(self._chunks))]
        if not parts or not all(p.sample_rate for p in parts):
            return None
        return sum(p.samples / p.sample_rate for p in parts)
