"""The SSML we take, read into a flat list of events for the renderer.

Supported elements (W3C SSML 1.1 names; docs/pronunciation.md has the table):

- ``<speak>`` (the root; ``xml:lang`` sets the language of ``<say-as>``
  readings), ``<p>`` / ``<paragraph>``, ``<s>`` / ``<sentence>``: a
  paragraph or sentence ends with a pause (``PARAGRAPH_PAUSE``,
  ``SENTENCE_PAUSE``, unless a ``<break>`` stands there);
- ``<break time="2s|500ms"/>`` or ``strength="none|x-weak|weak|medium|strong|x-strong"``:
  exact silence, at most ``MAX_BREAK_MS`` each;
- ``<sub alias="...">``: the alias is spoken, the content shown in captions;
- ``<say-as interpret-as="characters|spell-out|cardinal|ordinal|digits|date|telephone"
  [format]>``: ``shared.text.sayas``;
- ``<phoneme alphabet="ipa|x-sampa" ph="...">``: natively on models that take
  phonemes, else the content is spoken as written;
- ``<emphasis>`` (its content spoken; no model here stresses it) and
  ``<prosody rate>`` (the model's speed where it has one; ``pitch`` and
  ``volume`` are ignored), ``<mark>`` (ignored), ``<lang xml:lang>``.

Anything else is refused with the element's line and column (a 400), as is
malformed markup (``shared.text.xmltree``). Whitespace runs in the text are
spoken as one space.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from shared.text import sayas
from shared.text.errors import MarkupError
from shared.text.xmltree import Element, TextRun, parse, position

__all__ = [
    "BREAK_STRENGTHS",
    "MAX_BREAK_MS",
    "PARAGRAPH_PAUSE",
    "SENTENCE_PAUSE",
    "Pause",
    "Phoneme",
    "Reading",
    "Text",
    "read_ssml",
]

SSML_NAMESPACE = "http://www.w3.org/2001/10/synthesis"
MAX_BREAK_MS = 10_000  # as Polly and Google cap one <break>
# Milliseconds of each break strength (W3C leaves them to the processor; docs/pronunciation.md).
BREAK_STRENGTHS: dict[str, int] = {
    "none": 0,
    "x-weak": 100,
    "weak": 200,
    "medium": 400,
    "strong": 600,
    "x-strong": 1000,
}
SENTENCE_PAUSE = BREAK_STRENGTHS["strong"]
PARAGRAPH_PAUSE = BREAK_STRENGTHS["x-strong"]
PHONEME_ALPHABETS = ("ipa", "x-sampa")
RATE_WORDS = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
MIN_RATE, MAX_RATE = 0.2, 4.0
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)\s*$")
_PERCENT = re.compile(r"^\s*([+-]?)(\d+(?:\.\d+)?)\s*%\s*$")
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_SPACE = re.compile(r"\s+")


class Text(NamedTuple):
    """Text as written (lexicons apply): ``run`` of the source, spoken at ``rate``."""

    run: TextRun
    rate: float | None


class Reading(NamedTuple):
    """``spoken`` instead of the source text ``[start, end)`` (shown as ``display``): a ``<sub>`` or ``<say-as>``."""

    spoken: str
    start: int
    end: int
    display: str
    rate: float | None


class Phoneme(NamedTuple):
    """A ``<phoneme>``: ``ph`` in ``alphabet`` for the source text ``[start, end)`` (``display``)."""

    ph: str
    alphabet: str
    start: int
    end: int
    display: str
    rate: float | None


class Pause(NamedTuple):
    """Silence: ``explicit`` for a ``<break>``, else the end of a sentence or paragraph."""

    ms: int
    explicit: bool


Event = Text | Reading | Phoneme | Pause


class _Context(NamedTuple):
    lang: str
    rate: float | None


def read_ssml(source: str) -> list[Event]:
    """The events of an SSML document (see the module doc); ``MarkupError`` when refused."""
    root = parse(source)
    reader = _Reader(source)
    if root.tag != "speak" or root.namespace not in (None, SSML_NAMESPACE):
        reader.fail(root, f"the root element must be <speak>, not <{root.tag}>")
    lang = root.attrs.get("xml:lang", "en")
    reader.children(root, _Context(lang, None))
    return reader.events


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.events: list[Event] = []

    def fail(self, element: Element, message: str) -> None:
        line, column = position(self.source, element.start)
        raise MarkupError(message, line, column)

    def children(self, element: Element, context: _Context) -> None:
        for child in element.children:
            if isinstance(child, TextRun):
                self.events.append(Text(child, context.rate))
            else:
                self.element(child, context)

    def element(self, element: Element, context: _Context) -> None:
        if element.namespace not in (None, SSML_NAMESPACE):
            self.fail(element, f"element <{element.tag}> of namespace {element.namespace!r} is not supported")
        tag = element.tag
        if "xml:lang" in element.attrs:
            context = _Context(element.attrs["xml:lang"], context.rate)
        if tag in ("p", "paragraph", "s", "sentence"):
            pause = PARAGRAPH_PAUSE if tag in ("p", "paragraph") else SENTENCE_PAUSE
            self.events.append(Pause(pause, explicit=False))
            self.children(element, context)
            self.events.append(Pause(pause, explicit=False))
        elif tag == "break":
            self.events.append(Pause(self.break_ms(element), explicit=True))
        elif tag == "sub":
            alias = self.required(element, "alias")
            start, end, display = self.content(element)
            self.events.append(Reading(_SPACE.sub(" ", alias).strip(), start, end, display, context.rate))
        elif tag == "say-as":
            interpret = self.required(element, "interpret-as")
            start, end, display = self.content(element)
            try:
                spoken = sayas.read(interpret, display, element.attrs.get("format"), context.lang)
            except sayas.SayAsError as exc:
                self.fail(element, f"<say-as interpret-as={interpret!r}>: {exc}")
            self.events.append(Reading(spoken, start, end, display, context.rate))
        elif tag == "phoneme":
            ph = self.required(element, "ph").strip()
            alphabet = element.attrs.get("alphabet", "ipa")
            if alphabet not in PHONEME_ALPHABETS:
                self.fail(element, f"<phoneme alphabet={alphabet!r}>: use one of {', '.join(PHONEME_ALPHABETS)}")
            if not ph:
                self.fail(element, "<phoneme>: ph must not be empty")
            start, end, display = self.content(element)
            self.events.append(Phoneme(ph, alphabet, start, end, display, context.rate))
        elif tag in ("emphasis", "lang"):
            self.children(element, context)
        elif tag == "prosody":
            rate = self.rate(element, context.rate)
            self.children(element, _Context(context.lang, rate))
        elif tag == "mark":
            pass  # a bookmark: nothing to speak
        else:
            self.fail(
                element,
                f"element <{tag}> is not supported; use speak, p, s, break, sub, say-as, phoneme, emphasis,"
                " prosody, mark or lang",
            )

    def required(self, element: Element, name: str) -> str:
        value = element.attrs.get(name)
        if value is None or not value.strip():
            self.fail(element, f"<{element.tag}> needs a {name} attribute")
        return value or ""

    def content(self, element: Element) -> tuple[int, int, str]:
        """The source span and text of an element that may hold text only."""
        for child in element.children:
            if isinstance(child, Element):
                self.fail(child, f"<{element.tag}> may hold text only, not <{child.tag}>")
        runs = element.runs()
        text = _SPACE.sub(" ", element.text()).strip()
        if not runs or not text:
            return element.start, element.end, text
        first = next(r for r in runs if r.value.strip())
        last = next(r for r in reversed(runs) if r.value.strip())
        start = first.start + (len(first.value) - len(first.value.lstrip()) if first.exact else 0)
        end = last.end - (len(last.value) - len(last.value.rstrip()) if last.exact else 0)
        return start, end, text

    def break_ms(self, element: Element) -> int:
        if element.children:
            self.fail(element, "<break> must be empty")
        time = element.attrs.get("time")
        if time is not None:
            match = _TIME.match(time)
            if match is None:
                self.fail(element, f"<break time={time!r}>: give seconds or milliseconds, like 2s or 500ms")
                return 0
            value = float(match.group(1)) * (1 if match.group(2) == "ms" else 1000)
            ms = round(value)
            if ms > MAX_BREAK_MS:
                self.fail(element, f"<break time={time!r}>: at most {MAX_BREAK_MS // 1000}s a break")
            return ms
        strength = element.attrs.get("strength", "medium")
        if strength not in BREAK_STRENGTHS:
            self.fail(element, f"<break strength={strength!r}>: use one of {', '.join(BREAK_STRENGTHS)}")
        return BREAK_STRENGTHS[strength]

    def rate(self, element: Element, enclosing: float | None) -> float | None:
        raw = element.attrs.get("rate")
        if raw is None:
            return enclosing
        base = enclosing if enclosing is not None else 1.0
        value: float | None = None
        if raw.strip() in RATE_WORDS:
            value = RATE_WORDS[raw.strip()]
        elif (percent := _PERCENT.match(raw)) is not None:
            sign, amount = percent.group(1), float(percent.group(2)) / 100
            value = base * (1 + amount) if sign == "+" else base * (1 - amount) if sign == "-" else amount
        elif (number := _NUMBER.match(raw)) is not None:
            value = base * float(number.group(1))
        if value is None or value <= 0:
            self.fail(element, f"<prosody rate={raw!r}>: use x-slow, slow, medium, fast, x-fast, a percentage or a number")
            return enclosing
        return min(max(value, MIN_RATE), MAX_RATE)
