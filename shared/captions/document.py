"""The timings JSON (``shared.models.TimingsDocument``): stored in R2 next to the audio and served by
``GET /v1/jobs/{jobId}/timestamps``.

One entry per word of the submitted text, in order: ``word`` (its text),
``start`` and ``end`` in seconds from the start of the audio, ``charStart``
and ``charEnd`` (``text[charStart:charEnd] == word``, offsets in Unicode code
points). ``timings`` says whether the model reported them (``exact``) or
they were ``estimated`` (``method`` says how). For SSML the offsets still
point into the submitted document and ``word`` is the word as written
without tags or character references ("AT&T" for ``AT&amp;T``); a lexicon
alias or ``<say-as>`` reading is one word, as written ("W3C").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from shared.captions.cues import TimedWord
from shared.words import WordTiming
from shared.models import TimingsDocument, WordEntry

__all__ = ["TimingsDocument", "WordEntry", "build_document", "timed_words"]


def timed_words(document: TimingsDocument) -> list[TimedWord]:
    """The document's words as cue grouping takes them."""
    return [TimedWord(w.word, w.start, w.end) for w in document.words]


def build_document(
    job_id: str,
    model: str,
    text: str,
    words: Sequence[WordTiming],
    *,
    timings: Literal["exact", "estimated"],
    method: str,
    duration: float | None,
    spelled: Sequence[str] | None = None,
) -> TimingsDocument:
    """The document for aligned ``words`` of ``text`` (``shared.words.align_to_text``); ``spelled``:
    each word as shown, when that is not ``text[charStart:charEnd]`` (SSML: tags and references excluded)."""
    return TimingsDocument(
        job_id=job_id,
        model=model,
        timings=timings,
        method=method,
        duration=round(duration, 6) if duration is not None else None,
        words=[
            WordEntry(
                word=spelled[i] if spelled is not None else text[w.char_start : w.char_end],
                start=w.start,
                end=w.end,
                char_start=w.char_start,
                char_end=w.char_end,
            )
            for i, w in enumerate(words)
        ],
    )
