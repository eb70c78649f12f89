"""A rendering cut into provider requests: one ``Chunk`` per request, with the pauses around it.

Each ``Speech`` of a ``Rendering`` is one request, or several when it is
longer than the model takes at once: it is cut by the same rule as plain
text (``shared.text.chunking.split_text``: sentences first, then
clauses, then words) on a copy in which every whole piece (an alias, a
reading, a phoneme) is one unbreakable word, so no cut falls inside one.
A whole piece longer than the limit by itself is a ``RenderError``.

A chunk carries the silence before it (``lead_ms``: only the first chunk,
for a pause that opens the document) and after it (``trail_ms``: the pause
that follows its speech), so every pause survives whatever the chunking,
and a chunk is synthesized on its own: ``Chunk.key()`` is everything its
audio depends on, the same for the same text, lexicon versions and model
(what the provider receives: text, phonemes, speed; and the silences).
"""

from __future__ import annotations

import json
from typing import NamedTuple

from shared.text.chunking import split_text
from shared.text.errors import RenderError
from shared.words import CaptionWord
from shared.text.render import Piece, Rendering, Silence, Speech, SpokenCaption, caption_words

__all__ = ["Chunk", "SpeechPlan", "plan_chunks"]


class Chunk(NamedTuple):
    speech: Speech
    lead_ms: int = 0
    trail_ms: int = 0
    speed: float | None = None  # the request's speed; None: the job's own

    @property
    def text(self) -> str:
        return self.speech.text

    def phonemes(self) -> tuple[tuple[int, int, str], ...]:
        """``(start, end, phonemes)`` of each span of ``text`` to be said by its phonemes (model notation)."""
        out: list[tuple[int, int, str]] = []
        position = 0
        for piece in self.speech.pieces:
            if piece.phoneme is not None:
                out.append((position, position + len(piece.spoken), piece.phoneme))
            position += len(piece.spoken)
        return tuple(out)

    def memory_chars(self) -> int:
        """The characters of speech whose audio this chunk may hold at once, for a memory budget: with pauses its
        audio is copied once while the silence is added, and a pause counts as one character a 60 ms."""
        if not self.lead_ms and not self.trail_ms:
            return len(self.text)
        return 2 * len(self.text) + (self.lead_ms + self.trail_ms) // 60

    def captions(self) -> list[SpokenCaption]:
        return caption_words(self.speech)

    def key(self) -> str:
        """Canonical JSON of what the chunk's audio depends on."""
        body = {
            "text": self.text,
            "phonemes": [list(p) for p in self.phonemes()],
            "speed": self.speed,
            "lead": self.lead_ms,
            "trail": self.trail_ms,
        }
        return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class SpeechPlan:
    """A rendering's chunks; ``captions`` are computed when first asked (a chunk needs only its own)."""

    __slots__ = ("_captions", "chunks", "rendering")

    def __init__(self, chunks: tuple[Chunk, ...], rendering: Rendering) -> None:
        self.chunks = chunks
        self.rendering = rendering
        self._captions: tuple[CaptionWord, ...] | None = None

    def keys(self) -> list[str]:
        return [c.key() for c in self.chunks]

    @property
    def captions(self) -> tuple[CaptionWord, ...]:
        """Every caption word of the job, in order."""
        if self._captions is None:
            self._captions = tuple(self.rendering.captions)
        return self._captions


def _request_speed(rate: float | None, job_speed: float | None, speed_range: tuple[float, float] | None) -> float | None:
    if rate is None or speed_range is None:
        return None
    low, high = speed_range
    return round(min(max((job_speed or 1.0) * rate, low), high), 4)


def plan_chunks(
    rendering: Rendering,
    limit: int,
    *,
    job_speed: float | None = None,
    speed_range: tuple[float, float] | None = None,
) -> SpeechPlan:
    """The rendering's requests of at most ``limit`` characters each (see the module doc)."""
    chunks: list[Chunk] = []
    lead = 0
    for segment in rendering.segments:
        if isinstance(segment, Silence):
            if chunks:
                last = chunks[-1]
                chunks[-1] = Chunk(last.speech, last.lead_ms, last.trail_ms + segment.ms, last.speed)
            else:
                lead += segment.ms
            continue
        speed = _request_speed(segment.rate, job_speed, speed_range)
        for part in split_speech(segment, limit):
            chunks.append(Chunk(part, lead if not chunks else 0, 0, speed))
    return SpeechPlan(tuple(chunks), rendering)


def split_speech(speech: Speech, limit: int) -> list[Speech]:
    """``speech`` in parts of at most ``limit`` characters, never cutting a whole piece."""
    text = speech.text
    if len(text.strip()) <= limit:
        return [speech]
    # Whole pieces become one unbreakable word; whitespace (a collapsed run is a whole piece too) stays a place to cut.
    shadow = "".join(
        p.spoken if (p.exact and p.phoneme is None) or not p.spoken.strip() else "x" * len(p.spoken)
        for p in speech.pieces
    )
    parts: list[Speech] = []
    current: list[Piece] = []
    pieces = iter(speech.pieces)
    piece: Piece | None = next(pieces, None)
    at = 0  # where ``piece`` starts in the text
    cut = 0
    for part in split_text(shadow, limit):
        cut += len(part)
        while piece is not None and at < cut:
            end = at + len(piece.spoken)
            if end <= cut:
                current.append(piece)
                at, piece = end, next(pieces, None)
                continue
            head, tail = _cut(piece, cut - at, limit)  # the part ends inside this piece
            current.append(head)
            at, piece = cut, tail
        stripped = _strip(current)
        if stripped:
            parts.append(Speech(tuple(stripped), speech.rate))
        current = []
    return parts


def _cut(piece: Piece, at: int, limit: int) -> tuple[Piece, Piece]:
    """``piece`` cut after ``at`` characters: text as written, or whitespace; never a whole reading."""
    if piece.exact and piece.phoneme is None:
        head, tail = piece.spoken[:at], piece.spoken[at:]
        middle = piece.source_start + at
        return Piece(head, piece.source_start, middle, True, head), Piece(tail, middle, piece.source_end, True, tail)
    if not piece.spoken.strip() and piece.phoneme is None:
        head, tail = piece.spoken[:at], piece.spoken[at:]
        return (Piece(head, piece.source_start, piece.source_end, False, " "),
                Piece(tail, piece.source_start, piece.source_end, False, " "))
    raise RenderError(
        f"the reading of {piece.display!r} is {len(piece.spoken)} characters, more than the"
        f" {limit} the model takes in one request",
        "text",
        code="reading_too_long",
    )


def _strip(pieces: list[Piece]) -> list[Piece]:
    out = list(pieces)
    while out and out[0].phoneme is None and not out[0].spoken.strip():
        out.pop(0)
    while out and out[-1].phoneme is None and not out[-1].spoken.strip():
        out.pop()
    if out and out[0].exact and out[0].spoken[:1].isspace():
        first = out[0]
        cut = len(first.spoken) - len(first.spoken.lstrip())
        out[0] = Piece(first.spoken[cut:], first.source_start + cut, first.source_end, True, first.spoken[cut:])
    if out and out[-1].exact and out[-1].spoken[-1:].isspace():
        last = out[-1]
        kept = last.spoken.rstrip()
        out[-1] = Piece(kept, last.source_start, last.source_start + len(kept), True, kept)
    return out
