"""The one rendering path: text or SSML, plus lexicons, into what is spoken and where it came from.

``render(source, text_type, lexicons, caps)`` returns a ``Rendering``:

- ``segments``: ``Speech`` (text for one provider request, built of
  ``Piece``s that each know their span in the submitted text) and
  ``Silence`` (an exact pause, made by our own assembly on every model);
- ``captions``: the words a caption shows, in order: each one's span in the
  submitted text and its spelling as the user wrote it (tags excluded).

Pieces are ``exact`` (spoken character *i* is source character
``source_start + i``: text as written) or whole (an alias, a ``<say-as>``
reading, a character reference, a phoneme: the spoken text stands for its
source span as one unit). A caption word is a run of spoken non-whitespace,
widened to take in every whole piece it touches, so "W3C" read as "World
Wide Web Consortium" is one caption word.

Pauses (``<break>``, and the end of a ``<p>`` or ``<s>``) between two
stretches of speech merge: explicit breaks add up (to ``MAX_PAUSE_MS``), sentence and paragraph
ends count only when no ``<break>`` stands there (the longest of them), and
those at the very start or end of the document are dropped.

A phoneme goes to the model in its notation when ``caps.phonemes`` names one
and the string converts (``shared.text.phonemes``); otherwise a lexicon
rule's alias is spoken, or a ``<phoneme>``'s content as written, and when
there is neither the rendering fails (``RenderError``, a 422 naming the
model). ``<prosody rate>`` splits speech into requests at each change when
``caps.speed`` (the model takes a speed), and is ignored otherwise.

The result is a pure function of its inputs: the same text, lexicon versions
and model give the same segments, so every chunk of a job can be rendered
on its own, anywhere (``shared.text.plan``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import NamedTuple

from shared.words import CaptionWord
from shared.text import ssml
from shared.text.errors import RenderError
from shared.text.lexicon import Lexicon, Matcher, Rule
from shared.text.phonemes import PhonemeError, convert

__all__ = [
        "Caps",
    "Piece",
    "Rendering",
    "Silence",
    "Speech",
    "caption_words",
    "render",
]

TEXT_TYPES = ("text", "ssml")
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\S+")


class Caps(NamedTuple):
    """What the model can do with markup: its phoneme notation (None: none) and whether it takes a speed."""

    model: str
    phonemes: str | None = None
    speed: bool = False


class Piece(NamedTuple):
    spoken: str
    source_start: int
    source_end: int
    exact: bool
    display: str  # what a caption shows for it (for an exact piece, ``spoken``)
    phoneme: str | None = None  # the model's notation; ``spoken`` is then what it stands for


class Speech(NamedTuple):
    pieces: tuple[Piece, ...]
    rate: float | None = None

    @property
    def text(self) -> str:
        return "".join(p.spoken for p in self.pieces)


class Silence(NamedTuple):
    ms: int


Segment = Speech | Silence


class SpokenCaption(NamedTuple):
    """A caption word of one ``Speech``: its span in the speech's text, and the ``CaptionWord``."""

    spoken_start: int
    spoken_end: int
    caption: CaptionWord


class Rendering(NamedTuple):
    segments: tuple[Segment, ...]

    @property
    def speeches(self) -> list[Speech]:
        return [s for s in self.segments if isinstance(s, Speech)]

    @property
    def spoken_chars(self) -> int:
        return sum(len(s.text) for s in self.speeches)

    @property
    def pause_ms(self) -> int:
        return sum(s.ms for s in self.segments if isinstance(s, Silence))

    @property
    def captions(self) -> list[CaptionWord]:
        return [c.caption for speech in self.speeches for c in caption_words(speech)]


# --- text blocks ------------------------------------------------------------------


class _Span(NamedTuple):
    """Characters ``[value_start, value_end)`` of a block's text, from ``source[source_start:source_end]``."""

    value_start: int
    value_end: int
    source_start: int
    source_end: int
    exact: bool


class _Renderer:
    def __init__(self, matcher: Matcher, caps: Caps, collapse: bool) -> None:
        self.matcher = matcher
        self.caps = caps
        self.collapse = collapse
        self.segments: list[Segment] = []
        self.pieces: list[Piece] = []
        self.rate: float | None = None
        self.pauses: list[ssml.Pause] = []

    # speech and pauses

    def speak(self, pieces: list[Piece], rate: float | None) -> None:
        rate = rate if self.caps.speed else None
        if self.pieces and rate != self.rate:
            self.close_speech()
        self.rate = rate
        self.pieces.extend(pieces)

    def pause(self, pause: ssml.Pause) -> None:
        self.close_speech()
        self.pauses.append(pause)

    def close_speech(self) -> None:
        pieces = _strip(_collapse(self.pieces) if self.collapse else self.pieces)
        self.pieces = []
        if not pieces:
            return
        ms = _merged(self.pauses, leading=not any(isinstance(s, Speech) for s in self.segments))
        self.pauses = []
        if ms:
            self.segments.append(Silence(ms))
        self.segments.append(Speech(tuple(pieces), self.rate))

    def finish(self) -> Rendering:
        self.close_speech()
        if any(isinstance(s, Speech) for s in self.segments):
            ms = min(sum(p.ms for p in self.pauses if p.explicit), MAX_PAUSE_MS)  # trailing: only <break>s
            if ms:
                self.segments.append(Silence(ms))
        return Rendering(tuple(self.segments))

    # text

    def block(self, value: str, spans: list[_Span], rate: float | None) -> None:
        """Text as written (lexicons apply) with its spans in the source."""
        pieces: list[Piece] = []
        position = 0
        starts = [span.value_start for span in spans]
        for match in self.matcher.find(value):
            pieces += _text_pieces(value, spans, starts, position, match.start)
            pieces.append(self.rule_piece(match.rule, value, spans, starts, match.start, match.end))
            position = match.end
        pieces += _text_pieces(value, spans, starts, position, len(value))
        self.speak(pieces, rate)

    def rule_piece(self, rule: Rule, value: str, spans: list[_Span], starts: list[int], start: int, end: int) -> Piece:
        source_start, source_end = _source_span(spans, starts, start, end)
        display = _SPACE.sub(" ", value[start:end]).strip()
        if rule.phoneme is not None and self.caps.phonemes is not None:
            try:
                notation = convert(rule.phoneme, rule.alphabet, self.caps.phonemes)
            except PhonemeError as exc:
                if rule.alias is None:
                    raise RenderError(
                        f"lexicon rule for {display!r}: its phoneme cannot be spoken by model {self.caps.model!r}"
                        f" ({exc}) and it has no alias",
                        "lexicons",
                        code="phoneme_unsupported",
                    ) from exc
            else:
                return Piece(display, source_start, source_end, False, display, notation)
        if rule.alias is None:
            raise RenderError(
                f"lexicon rule for {display!r} has only a phoneme, and model {self.caps.model!r} takes no phonemes;"
                " add an alias to the rule or choose a model that takes phonemes (/v1/models, ssml.phonemes)",
                "lexicons",
                code="phoneme_unsupported",
            )
        return Piece(rule.alias, source_start, source_end, False, display)

    def phoneme(self, event: ssml.Phoneme) -> None:
        if self.caps.phonemes is not None:
            try:
                notation = convert(event.ph, event.alphabet, self.caps.phonemes)
            except PhonemeError:
                notation = None
            if notation is not None:
                self.speak([Piece(event.display or event.ph, event.start, event.end, False, event.display, notation)], event.rate)
                return
        if not event.display:
            raise RenderError(
                f"<phoneme ph={event.ph!r}> holds no text to speak instead, and model {self.caps.model!r}"
                " cannot speak its phonemes; write the word inside it",
                "text",
                code="phoneme_unsupported",
            )
        self.speak([Piece(event.display, event.start, event.end, False, event.display)], event.rate)


MAX_PAUSE_MS = 60_000  # breaks in a row add up to at most this (the silence one chunk's memory holds)


def _merged(pauses: list[ssml.Pause], *, leading: bool) -> int:
    explicit = [p.ms for p in pauses if p.explicit]
    if explicit:
        return min(sum(explicit), MAX_PAUSE_MS)
    if leading:
        return 0
    return max((p.ms for p in pauses), default=0)


def _source_span(spans: list[_Span], starts: list[int], start: int, end: int) -> tuple[int, int]:
    """The source span of block characters ``[start, end)`` (``starts``: each span's ``value_start``)."""
    first = spans[bisect.bisect_right(starts, start) - 1]
    last = spans[bisect.bisect_left(starts, end) - 1]
    begin = first.source_start + (start - first.value_start if first.exact else 0)
    finish = last.source_end - (last.value_end - end if last.exact else 0)
    return begin, finish


def _text_pieces(value: str, spans: list[_Span], starts: list[int], start: int, end: int) -> list[Piece]:
    out: list[Piece] = []
    for index in range(max(0, bisect.bisect_right(starts, start) - 1), len(spans)):
        span = spans[index]
        if span.value_start >= end:
            break
        a, b = max(start, span.value_start), min(end, span.value_end)
        if a >= b:
            continue
        text = value[a:b]
        if span.exact:
            offset = span.source_start + a - span.value_start
            out.append(Piece(text, offset, offset + len(text), True, text))
        else:
            out.append(Piece(text, span.source_start, span.source_end, False, text))
    return out


def _collapse(pieces: list[Piece]) -> list[Piece]:
    """Runs of whitespace spoken as one space (SSML): a run other than one plain space becomes a whole
    piece of " " (a single space inside text stays where it is, so text keeps few pieces)."""
    out: list[Piece] = []
    after_space = False  # the last character kept is whitespace
    for piece in pieces:
        text = piece.spoken
        if piece.phoneme is not None or not piece.exact and text.strip():
            out.append(piece)
            after_space = False
            continue
        if not piece.exact:  # whitespace from a reference or a line break
            if not after_space:
                out.append(Piece(" ", piece.source_start, piece.source_end, False, " "))
                after_space = True
            continue
        position = 0
        for match in _SPACE.finditer(text):
            repeated = match.start() == 0 and after_space
            if match.group() == " " and not repeated:
                continue
            if match.start() > position:
                out.append(_slice(piece, position, match.start()))
            if not repeated:
                out.append(Piece(" ", piece.source_start + match.start(), piece.source_start + match.end(), False, " "))
            position = match.end()
        if position < len(text):
            out.append(_slice(piece, position, len(text)))
        if text:
            after_space = text[-1].isspace()
    return out


def _slice(piece: Piece, start: int, end: int) -> Piece:
    text = piece.spoken[start:end]
    return Piece(text, piece.source_start + start, piece.source_start + end, True, text)


def _strip(pieces: list[Piece]) -> list[Piece]:
    """Without whitespace at either end (the ends of a request carry nothing to say)."""
    out = list(pieces)
    while out and (out[0].phoneme is None and not out[0].spoken.strip()):
        out.pop(0)
    while out and (out[-1].phoneme is None and not out[-1].spoken.strip()):
        out.pop()
    if not out:
        return out
    first, last = out[0], out[-1]
    if first.exact and first.spoken != first.spoken.lstrip():
        out[0] = _slice(first, len(first.spoken) - len(first.spoken.lstrip()), len(first.spoken))
    if last.exact and last.spoken != last.spoken.rstrip():
        trimmed = out[-1]
        out[-1] = _slice(trimmed, 0, len(trimmed.spoken.rstrip()))
    return out


# --- captions ------------------------------------------------------------------------


def caption_words(speech: Speech) -> list[SpokenCaption]:
    """The caption words of one speech (see the module doc), in order."""
    bounds: list[tuple[int, int]] = []
    position = 0
    whole: list[tuple[int, int]] = []
    for piece in speech.pieces:
        end = position + len(piece.spoken)
        if not piece.exact and piece.spoken.strip():
            whole.append((position, end))
        position = end
    text = speech.text
    intervals = sorted([(m.start(), m.end()) for m in _WORD.finditer(text)] + whole)
    for start, end in intervals:
        if bounds and start < bounds[-1][1]:
            bounds[-1] = (bounds[-1][0], max(bounds[-1][1], end))
        else:
            bounds.append((start, end))
    out: list[SpokenCaption] = []
    offsets = []
    position = 0
    for piece in speech.pieces:
        offsets.append(position)
        position += len(piece.spoken)
    index = 0
    for start, end in bounds:
        while index < len(speech.pieces) and offsets[index] + len(speech.pieces[index].spoken) <= start:
            index += 1
        source_start: int | None = None
        source_end = 0
        display: list[str] = []
        i = index
        while i < len(speech.pieces) and offsets[i] < end:
            piece = speech.pieces[i]
            a, b = max(start, offsets[i]), min(end, offsets[i] + len(piece.spoken))
            if piece.exact:
                s, e = piece.source_start + a - offsets[i], piece.source_start + b - offsets[i]
                display.append(piece.spoken[a - offsets[i] : b - offsets[i]])
            else:
                s, e = piece.source_start, piece.source_end
                display.append(piece.display)
            source_start = s if source_start is None else min(source_start, s)
            source_end = max(source_end, e)
            i += 1
        word = "".join(display).strip()
        if source_start is not None and word:
            out.append(SpokenCaption(start, end, CaptionWord(source_start, source_end, word)))
    return out


# --- entry point ---------------------------------------------------------------------


def render(source: str, text_type: str, lexicons: Sequence[Lexicon], caps: Caps) -> Rendering:
    """The segments of ``source`` (``text_type`` "text" or "ssml") for a model with ``caps`` (see the module doc).

    ``MarkupError`` for SSML we refuse, ``RenderError`` for what this model cannot say.
    """
    matcher = Matcher(lexicons)
    if text_type == "ssml":
        renderer = _Renderer(matcher, caps, collapse=True)
        texts: list[ssml.Text] = []

        def flush() -> None:
            if texts:
                value = "".join(t.run.value for t in texts)
                spans = []
                at = 0
                for t in texts:
                    spans.append(_Span(at, at + len(t.run.value), t.run.start, t.run.end, t.run.exact))
                    at += len(t.run.value)
                renderer.block(value, spans, texts[0].rate)
                texts.clear()

        for event in ssml.read_ssml(source):
            if isinstance(event, ssml.Text):
                if texts and texts[-1].rate != event.rate:
                    flush()
                texts.append(event)
                continue
            flush()
            if isinstance(event, ssml.Pause):
                renderer.pause(event)
            elif isinstance(event, ssml.Reading):
                renderer.speak([Piece(event.spoken, event.start, event.end, False, event.display)], event.rate)
            else:
                renderer.phoneme(event)
        flush()
        return renderer.finish()
    if text_type != "text":
        raise ValueError(f"text type {text_type!r}: use one of {TEXT_TYPES}")
    renderer = _Renderer(matcher, caps, collapse=False)
    renderer.block(source, [_Span(0, len(source), 0, len(source), True)], None)
    return renderer.finish()
