"""Word timings: what an engine reports, and the words of the submitted text they become.

A ``WordTiming`` is one word's ``start`` and ``end`` in seconds from the start
of the audio it belongs to, and its characters ``[char_start, char_end)`` in
the text that was spoken, counted in Unicode code points (Python ``str``
indices; not UTF-8 bytes, not UTF-16 units).

Engines report words their own way: eSpeak reports where it *starts* each
word it speaks, and cuts or merges some ("it's" -> "it"; "1,234" -> five
spoken words). ``align_to_text`` turns that into one entry per word of the
submitted text (a run of non-whitespace characters), so captions and the
``/timestamps`` JSON always cover every word once, in order:

- the engine words whose start lies inside a text word give its start (the
  first one's) and end (the last one's end);
- a text word no engine word starts in (a lone dash, a symbol eSpeak skips)
  gets the gap between its neighbours (``start`` = the previous word's
  ``end``, ``end`` = the next word's ``start``), so it is timed, never lost.

Only the standard library is imported here (``shared.ports`` imports this).
"""

from __future__ import annotations

import bisect
import re
import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

__all__ = ["CaptionWord", "WordTiming", "align_to_spans", "align_to_text", "ends_from_starts", "shift", "text_words"]

_WORD = re.compile(r"\S+")
# A sample at or below this magnitude (of 32767) counts as silence when a word's end is found.
SILENCE_THRESHOLD = 100


@dataclass(frozen=True)
class WordTiming:
    """One word: seconds from the start of its audio, code-point offsets into its text."""

    start: float
    end: float
    char_start: int
    char_end: int


class CaptionWord(NamedTuple):
    """A word as captions show it when it is not simply ``text[start:end]`` (SSML, lexicons:
    shared/text/render.py): ``[start, end)`` in the submitted text, spelled ``word``."""

    start: int
    end: int
    word: str


def text_words(text: str) -> list[tuple[int, int]]:
    """``[start, end)`` of every word (run of non-whitespace) of ``text``."""
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def shift(words: Iterable[WordTiming], seconds: float, chars: int) -> list[WordTiming]:
    """``words`` moved ``seconds`` later in the audio and ``chars`` later in the text."""
    return [
        replace(w, start=w.start + seconds, end=w.end + seconds, char_start=w.char_start + chars, char_end=w.char_end + chars)
        for w in words
    ]


def ends_from_starts(
    starts: Sequence[tuple[int, int, int]], pcm: bytes, sample_rate: int, *, threshold: int = SILENCE_THRESHOLD
) -> list[WordTiming]:
    """Words from where an engine started each one, measured on its s16le mono ``pcm``.

    ``starts`` is ``(sample, char_start, char_length)`` per word, in the
    order spoken. A word ends where the next one starts, less the silence
    before it (a pause after a comma or a full stop belongs to no word): its
    end is one past its last sample louder than ``threshold``. Times are
    sample-exact: ``sample / sample_rate``.
    """
    whole = memoryview(pcm)[: len(pcm) - len(pcm) % 2]
    samples: Sequence[int]
    if sys.byteorder == "little":
        samples = whole.cast("h")  # no copy of what may be minutes of audio
    else:
        swapped = array("h", whole.tobytes())
        swapped.byteswap()
        samples = swapped
    total = len(samples)
    ordered = sorted(starts, key=lambda s: s[0])
    out: list[WordTiming] = []
    for i, (begin, char_start, length) in enumerate(ordered):
        begin = max(0, min(begin, total))
        limit = ordered[i + 1][0] if i + 1 < len(ordered) else total
        limit = max(begin, min(limit, total))
        end = _sound_end(samples, begin, limit, threshold)
        if end == begin:
            end = limit  # silent throughout (a symbol eSpeak times but does not voice)
        out.append(WordTiming(begin / sample_rate, end / sample_rate, char_start, char_start + max(length, 0)))
    return out


_BLOCK = 256


def _sound_end(samples: Sequence[int], begin: int, limit: int, threshold: int) -> int:
    """One past the last sample in ``[begin, limit)`` louder than ``threshold`` (``begin`` if none).

    Steps back a block at a time (``max``/``min`` of a slice run in C), then sample by sample."""
    end = limit
    while end - begin >= _BLOCK:
        block = samples[end - _BLOCK : end]
        if max(block) > threshold or min(block) < -threshold:
            break
        end -= _BLOCK
    while end > begin and abs(samples[end - 1]) <= threshold:
        end -= 1
    return end


def align_to_text(words: Sequence[WordTiming], text: str, *, duration: float | None = None) -> list[WordTiming]:
    """One timing per word of ``text`` (see the module doc); ``duration`` caps every time."""
    return align_to_spans(words, text_words(text), duration=duration)


def align_to_spans(
    words: Sequence[WordTiming], spans: Sequence[tuple[int, int]], *, duration: float | None = None
) -> list[WordTiming]:
    """One timing per ``[start, end)`` of ``spans`` (in order, not overlapping), as ``align_to_text`` does for
    the words of a text; a span no engine word starts in gets the gap between its neighbours."""
    spans = list(spans)
    if not spans:
        return []
    starts = [s for s, _ in spans]
    timed: list[tuple[float, float] | None] = [None] * len(spans)
    for word in sorted(words, key=lambda w: (w.start, w.char_start)):
        # The text word holding the engine word's first character (or, for one
        # starting on whitespace, the next text word).
        index = bisect.bisect_right(starts, word.char_start) - 1
        if index < 0 or word.char_start >= spans[index][1]:
            index += 1
        if index >= len(spans):
            continue
        current = timed[index]
        if current is None:
            timed[index] = (word.start, word.end)
        else:
            timed[index] = (min(current[0], word.start), max(current[1], word.end))
    return _fill_gaps(spans, timed, duration)


def _fill_gaps(
    spans: list[tuple[int, int]], timed: list[tuple[float, float] | None], duration: float | None
) -> list[WordTiming]:
    out: list[WordTiming] = []
    previous_end = 0.0
    for i, (char_start, char_end) in enumerate(spans):
        value = timed[i]
        if value is None:
            following = next((t[0] for t in timed[i + 1 :] if t is not None), None)
            start = previous_end
            end = max(start, following if following is not None else (duration if duration is not None else start))
        else:
            start, end = value
            start = max(start, previous_end)  # monotonic, even if an engine's words overlap
            end = max(end, start)
        if duration is not None:
            start, end = min(start, duration), min(end, duration)
        out.append(WordTiming(round(start, 6), round(end, 6), char_start, char_end))
        previous_end = end
    return out


def words_from_characters(
    text: str, characters: Sequence[str], starts: Sequence[float], ends: Sequence[float]
) -> list[WordTiming]:
    """Word timings from per-character ones (ElevenLabs' ``alignment``), matched to ``text`` in order.

    Each reported character (a string, usually one code point) is found at
    or after the previous one in ``text``; one that is not there (a
    normalized character) is skipped. A word runs from its first timed
    character's start to its last one's end.
    """
    count = min(len(characters), len(starts), len(ends))
    at: list[tuple[float, float] | None] = [None] * len(text)
    pos = 0
    for i in range(count):
        piece = characters[i]
        if not piece:
            continue
        found = text.find(piece, pos, pos + len(piece) + 8)  # a little slack for characters it dropped
        if found < 0:
            continue
        for j in range(found, found + len(piece)):
            at[j] = (float(starts[i]), float(ends[i]))
        pos = found + len(piece)
    out: list[WordTiming] = []
    for start, end in text_words(text):
        times = [t for t in at[start:end] if t is not None]
        if times:
            out.append(WordTiming(min(t[0] for t in times), max(t[1] for t in times), start, end))
    return out
