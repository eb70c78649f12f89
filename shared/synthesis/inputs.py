"""A multi-input job (``inputs`` on ``POST /v1/jobs``): how it is stored, cut into chunks, and charted.

Stored on the job's record: ``text`` is the inputs' texts joined by
``INPUT_SEPARATOR`` (a blank line), so the timings' character offsets point
into one text; ``inputs`` is JSON ``[{"chars", "voiceId", "title"}]`` (each
input's length in that text, its voice, its title); ``gap_ms`` the silence
between two inputs.

Rules:

- each input is cut into chunks on its own (``chunking.chunk_texts``), so an
  input boundary is always a chunk boundary, and each chunk is synthesized
  with its input's voice (``chunk_record``) through the same per-chunk path
  as any long job (``shared.synthesis.longform.synthesize_chunk``);
- the last chunk of every input but the last carries the gap as trailing
  silence, added to its audio before it is stored (``silence.pad``:
  sample-exact in WAV and PCM, whole silent frames in MP3);
- each stored chunk records its span (``ChunkSpan``: speech samples, gap
  samples, gap bytes) in its R2 metadata, so the chapters of the joined
  file are computed from the chunks' measured lengths alone (``chapters``);
  with the synthesis cache (shared/synthesis/cache.py) a chunk with no gap
  after it, in WAV or PCM, is kept as a cache entry of its own voice's
  request instead (``cacheable``), its span read from its layout
  (``span_of_layout``); a chunk with a gap stays the job's own:
  a chapter starts at its input's first sample and ends at its last, the
  gaps lie outside every chapter. Byte ranges are given for formats joined
  as files (WAV, PCM, MP3: ``?input=N`` serves them); a format encoded once
  from the joined PCM (Opus, AAC, FLAC) has times only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from shared.models import INPUT_SEPARATOR, ChapterEntry, JobRecord

if TYPE_CHECKING:
    from shared.models import JobInput
    from shared.audio.kinds import JoinLayout, PartLayout

__all__ = [
    "ChunkSpan", "InputPlan", "StoredInput", "cacheable", "chapters", "chunk_record", "encode_inputs",
    "input_chunk_ends", "input_plan", "span_of_layout", "stored_inputs",
]


@dataclass(frozen=True)
class StoredInput:
    """One input as the record keeps it."""

    text: str
    voice: str | None
    title: str
    char_start: int  # in record.text


def encode_inputs(inputs: Sequence[JobInput]) -> str:
    """The ``inputs`` column of a new job."""
    return json.dumps(
        [{"chars": len(i.text), "voiceId": i.voice_id, "title": i.title} for i in inputs],
        ensure_ascii=False, separators=(",", ":"),
    )


def stored_inputs(record: JobRecord) -> list[StoredInput] | None:
    """The record's inputs (None for a job of one text); needs the record read with its text."""
    if not record.inputs:
        return None
    out: list[StoredInput] = []
    position = 0
    for index, item in enumerate(json.loads(record.inputs)):
        chars = int(item["chars"])
        title = item.get("title") or f"Input {index + 1}"
        out.append(StoredInput(record.text[position : position + chars], item.get("voiceId"), title, position))
        position += chars + len(INPUT_SEPARATOR)
    return out


@dataclass(frozen=True)
class InputPlan:
    """A multi-input job's chunks: per chunk its text, voice, input, trailing gap and offset in the text."""

    texts: list[str]
    voices: list[str | None]
    input_of: list[int]
    trail_ms: list[int]
    offsets: list[int]
    inputs: list[StoredInput]

    def ends(self) -> list[int]:
        """The cumulative chunk count at the end of each input."""
        return input_chunk_ends(self.input_of, len(self.inputs))


def input_chunk_ends(input_of: Sequence[int], count: int) -> list[int]:
    ends = [0] * count
    for position, index in enumerate(input_of):
        ends[index] = position + 1
    return list(accumulate(ends, max))


def input_plan(record: JobRecord, limit: int) -> InputPlan:
    """The chunks of a multi-input job (pure: every delivery plans the same)."""
    from shared.captions.chunks import chunk_offsets
    from shared.text.chunking import chunk_texts

    inputs = stored_inputs(record) or []
    texts: list[str] = []
    voices: list[str | None] = []
    input_of: list[int] = []
    trail: list[int] = []
    offsets: list[int] = []
    for index, item in enumerate(inputs):
        pieces = chunk_texts(item.text, limit)
        texts += pieces
        voices += [item.voice or record.voice_id] * len(pieces)
        input_of += [index] * len(pieces)
        last = index == len(inputs) - 1
        trail += [0] * (len(pieces) - 1) + [0 if last else (record.gap_ms or 0)]
        offsets += [item.char_start + o for o in chunk_offsets(item.text, limit)]
    return InputPlan(texts, voices, input_of, trail, offsets, inputs)


def chunk_record(record: JobRecord, voice: str | None) -> JobRecord:
    """``record`` as one of its chunks is synthesized: with the chunk's input's voice."""
    return record if voice == record.voice_id else record.model_copy(update={"voice_id": voice})


@dataclass(frozen=True)
class ChunkSpan:
    """A stored chunk of a multi-input job: its speech, and the gap of silence after it."""

    samples: int
    gap_samples: int
    gap_bytes: int

    def to_metadata(self) -> str:
        return f"{self.samples}:{self.gap_samples}:{self.gap_bytes}"

    @classmethod
    def from_metadata(cls, text: str | None) -> ChunkSpan | None:
        try:
            samples, gap_samples, gap_bytes = (int(x) for x in (text or "").split(":"))
        except ValueError:
            return None
        return cls(samples, gap_samples, gap_bytes)


def chapters(
    plan: InputPlan,
    spans: Sequence[ChunkSpan],
    sample_rate: int,
    layout: JoinLayout | None,
    delay_samples: int = 0,
) -> list[ChapterEntry]:
    """Each input's place in the joined audio: times from the spans' samples (exact), bytes from ``layout``
    (the joined file's pieces; None when the file was encoded once and bytes do not map to inputs)."""
    starts: list[int] = []  # where each chunk's payload starts in the joined file, and its length
    lengths: list[int] = []
    if layout is not None:
        starts, lengths = [0] * len(spans), [0] * len(spans)
        position = len(layout.header)
        for piece in layout.pieces:
            # the payload is a part's last piece (the first part's MP3 tag comes before it)
            starts[piece.part], lengths[piece.part] = position, piece.length
            position += piece.length
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for chunk, index in enumerate(plan.input_of):
        first.setdefault(index, chunk)
        last[index] = chunk
    sample_starts = list(accumulate((s.samples + s.gap_samples for s in spans), initial=delay_samples))
    out: list[ChapterEntry] = []
    for index, item in enumerate(plan.inputs):
        a, b = first[index], last[index]
        end_sample = sample_starts[b] + spans[b].samples
        byte_start = byte_end = None
        if layout is not None:
            byte_start = starts[a]
            byte_end = starts[b] + lengths[b] - spans[b].gap_bytes
        out.append(
            ChapterEntry(
                index=index,
                title=item.title,
                start=round(sample_starts[a] / sample_rate, 6),
                end=round(end_sample / sample_rate, 6),
                char_start=item.char_start,
                char_end=item.char_start + len(item.text),
                byte_start=byte_start,
                byte_end=byte_end,
            )
        )
    return out



def span_of_layout(layout: PartLayout | None) -> ChunkSpan | None:
    """The span of a chunk kept without a gap (a synthesis-cache entry), from its layout alone: WAV and PCM
    (whole frames of known size); None for MP3, whose samples are not a function of its bytes."""
    if layout is None:
        return None
    if layout.signature == "pcm":
        return ChunkSpan(layout.length // 2, 0, 0)
    if layout.signature.startswith("wav:"):
        _, channels, width = (int(x) for x in layout.signature.split(":", 1)[1].split("/"))
        return ChunkSpan(layout.length // (channels * width), 0, 0)
    return None


def cacheable(source_format: str, trail_ms: int) -> bool:
    """Whether a multi-input job's chunk goes through the synthesis cache: one with no gap added to it, made
    in a format whose span its layout gives (WAV, PCM; also the PCM of a format encoded once)."""
    return not trail_ms and source_format in ("wav", "pcm")
