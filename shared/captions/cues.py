"""Captions from word timings: readable cues, rendered as WebVTT or SRT.

Words are grouped into cues in order, a new cue starting when adding the
next word would make the cue

- longer than ``CUE_MAX_CHARS`` characters (42: one subtitle line, the usual
  broadcast limit), or
- longer than ``CUE_MAX_SECONDS`` seconds (5.0) from its first word's start
  to the new word's end,

and after every word that ends a sentence (``.``, ``!``, ``?``, ``…`` and the
CJK full stops, closing quotes or brackets allowed after them), and after a
word that ends a clause (``,``, ``;``, ``:``) once the cue has half its
characters (21) and at least ``CUE_MIN_REST`` (12) characters of the
sentence follow, so lines break where a reader pauses without leaving a
word alone. A single word
longer than the limit is a cue of its own. A cue's text is its words joined
by single spaces (line breaks of the text become spaces); it runs from its
first word's start to its last word's end, so cues never overlap and every
word of the text is in exactly one cue.

A job with inputs has chapters (``Chapter``: one per input): its WebVTT
captions carry each as a ``NOTE chapter N: title (start to end)`` block
before the chapter's first cue (not shown by players, kept in the file), and
``render_chapters_vtt`` makes the WebVTT chapters track (``<track
kind="chapters">``): one cue per chapter, identified ``chapter-N``, its
title as text. SRT has no place for them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "CUE_MAX_CHARS", "CUE_MAX_SECONDS", "Chapter", "Cue", "TimedWord", "group_cues", "render_chapters_vtt", "render_srt",
    "render_vtt",
]

CUE_MAX_CHARS = 42
CUE_MAX_SECONDS = 5.0
CUE_MIN_REST = 12
_CLAUSE_END = re.compile(r"[,;:\u3001\uff0c\uff1b\uff1a][\"'\u201d\u2019\u00bb)\]]*$")
_SENTENCE_END = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019\u00bb)\]\u300d\u300f\uff09]*$")


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Chapter:
    index: int
    title: str
    start: float
    end: float


def group_cues(
    words: Sequence[TimedWord], *, max_chars: int = CUE_MAX_CHARS, max_seconds: float = CUE_MAX_SECONDS
) -> list[Cue]:
    """The words in cues (see the module doc)."""
    cues: list[Cue] = []
    current: list[TimedWord] = []
    length = 0

    def flush() -> None:
        nonlocal current, length
        if current:
            cues.append(Cue(current[0].start, max(current[-1].end, current[0].start), " ".join(w.text for w in current)))
        current, length = [], 0

    # Characters from each word's successor to the end of its sentence (for clause breaks).
    rest = [0] * len(words)
    following = 0
    for i in range(len(words) - 1, -1, -1):
        rest[i] = following
        following = 0 if i and _SENTENCE_END.search(words[i - 1].text) else following + len(words[i].text) + 1
    for i, word in enumerate(words):
        if current:
            too_long = length + 1 + len(word.text) > max_chars
            too_slow = word.end - current[0].start > max_seconds
            if too_long or too_slow:
                flush()
        length += (1 if current else 0) + len(word.text)
        current.append(word)
        if _SENTENCE_END.search(word.text) or (
            length >= max_chars // 2 and rest[i] >= CUE_MIN_REST and _CLAUSE_END.search(word.text)
        ):
            flush()
    flush()
    return cues


def _millis(cues: Sequence[Cue], duration: float | None) -> list[tuple[int, int, str]]:
    """Cue times in whole milliseconds: rounded, never overlapping, never past ``duration``, never empty."""
    cap = math.floor(duration * 1000) if duration is not None else None
    out: list[tuple[int, int, str]] = []
    previous_end = 0
    for cue in cues:
        start = max(round(cue.start * 1000), previous_end)
        end = round(cue.end * 1000)
        if cap is not None:
            start, end = min(start, cap), min(end, cap)
        if end <= start:
            end = start + 1  # a cue must end after it starts (only for a word timed as an instant)
        out.append((start, end, cue.text))
        previous_end = end
    return out


def _clock(ms: int, separator: str) -> str:
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _escape_vtt(text: str) -> str:
    # "-->" cannot appear in a cue's text; & and < start entities and tags.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_vtt(
    cues: Sequence[Cue], *, duration: float | None = None, chapters: Sequence[Chapter] = ()
) -> str:
    """A WebVTT file: the header, then one numbered cue per entry (each chapter's NOTE before its first cue)."""
    lines = ["WEBVTT", ""]
    pending = list(chapters)
    for number, (start, end, text) in enumerate(_millis(cues, duration), 1):
        while pending and round(pending[0].start * 1000) <= start:
            lines += _chapter_note(pending.pop(0))
        lines += [str(number), f"{_clock(start, '.')} --> {_clock(end, '.')}", _escape_vtt(text), ""]
    for chapter in pending:
        lines += _chapter_note(chapter)
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " ".join(text.split()).replace("-->", "->")


def _chapter_note(chapter: Chapter) -> list[str]:
    start, end = round(chapter.start * 1000), round(chapter.end * 1000)
    return [
        # a NOTE may not hold "-->"
        f"NOTE chapter {chapter.index}: {_one_line(chapter.title)} ({_clock(start, '.')} to {_clock(end, '.')})", "",
    ]


def render_chapters_vtt(chapters: Sequence[Chapter]) -> str:
    """The WebVTT chapters track: one cue per chapter, ``chapter-N``, its title as text."""
    lines = ["WEBVTT", ""]
    for chapter in chapters:
        start, end = round(chapter.start * 1000), round(chapter.end * 1000)
        lines += [
            f"chapter-{chapter.index}", f"{_clock(start, '.')} --> {_clock(max(end, start + 1), '.')}",
            _escape_vtt(_one_line(chapter.title)) or f"Input {chapter.index + 1}", "",
        ]
    return "\n".join(lines)


def render_srt(cues: Sequence[Cue], *, duration: float | None = None) -> str:
    """An SRT file: numbered cues, ``HH:MM:SS,mmm`` times, CRLF-free (players take LF)."""
    lines: list[str] = []
    for number, (start, end, text) in enumerate(_millis(cues, duration), 1):
        lines += [str(number), f"{_clock(start, ',')} --> {_clock(end, ',')}", text.replace("-->", "->"), ""]
    return "\n".join(lines)
