"""The timings JSON: stored in R2 next to the audio and served by ``GET /v1/jobs/{jobId}/timestamps``.

One entry per word of the submitted text, in order: ``word`` (its text),
``start`` and ``end`` in seconds from the start of the audio, ``charStart``
and ``charEnd`` (``text[charStart:charEnd] == word``, offsets in Unicode code
points). ``timings`` says whether the model reported them (``exact``) or
they were ``estimated`` (``method`` says how).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from shared.captions.cues import TimedWord
from shared.captions.words import WordTiming
from shared.models import CamelModel

__all__ = ["TimingsDocument", "WordEntry", "build_document"]


class WordEntry(CamelModel):
    word: str
    start: float = Field(ge=0, description="Seconds from the start of the audio.")
    end: float = Field(ge=0, description="Seconds from the start of the audio; at least start.")
    char_start: int = Field(ge=0, description="Offset of the word's first character in the submitted text (code points).")
    char_end: int = Field(ge=0, description="Offset one past its last character.")


class TimingsDocument(CamelModel):
    """``GET /v1/jobs/{jobId}/timestamps``."""

    v: Literal[1] = 1
    job_id: str
    model: str
    timings: Literal["exact", "estimated"]
    method: str = Field(description="How the timings were obtained.")
    offsets: Literal["codepoints"] = "codepoints"
    duration: float | None = Field(default=None, description="Seconds of audio, when measured.")
    words: list[WordEntry]

    def timed_words(self) -> list[TimedWord]:
        return [TimedWord(w.word, w.start, w.end) for w in self.words]


def build_document(
    job_id: str,
    model: str,
    text: str,
    words: Sequence[WordTiming],
    *,
    timings: Literal["exact", "estimated"],
    method: str,
    duration: float | None,
) -> TimingsDocument:
    """The document for aligned ``words`` of ``text`` (``shared.captions.words.align_to_text``)."""
    return TimingsDocument(
        job_id=job_id,
        model=model,
        timings=timings,
        method=method,
        duration=round(duration, 6) if duration is not None else None,
        words=[
            WordEntry(word=text[w.char_start : w.char_end], start=w.start, end=w.end, char_start=w.char_start, char_end=w.char_end)
            for w in words
        ],
    )
