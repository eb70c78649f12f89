"""Splitting long text into pieces a provider accepts in one request.

``split_text(text, limit)`` cuts at the strongest boundary that makes the
pieces fit: sentences (and paragraphs, and line breaks) first, then clauses,
then words, and only for a single word longer than the limit, between
characters (never inside a combining sequence). Pieces are packed greedily, so
a limit of 4,096 gives pieces close to 4,096 characters made of whole
sentences.

Invariants the chunked synthesis relies on (and the tests check):

- ``"".join(split_text(text, limit)) == text``: nothing is lost or reordered;
- every piece has some non-whitespace text, and its stripped text
  (``piece.strip()``, what is sent) is at most ``limit`` characters;
- the result depends only on ``text`` and ``limit`` (a retry re-plans the
  same pieces, so stored pieces can be reused).

``split_stable`` (what a job that uses the synthesis cache is cut by) keeps
chunk boundaries where they were when a text is edited, so only the chunks
holding the edit are synthesized again. A text that fits one request is one
piece, as above. A longer one is first cut into *spans* of whole paragraphs,
left to right: a span ends before a paragraph that would take it past the
limit, or before an *anchor* paragraph once the span holds ``limit // 8``
characters; a paragraph is an anchor when a hash of its first 64
characters (stripped) is 0 mod ``ANCHOR_EVERY``, so the cuts depend on the
paragraphs around them, not on anything before. Each span is then packed by
``split_text``. An edit inside a paragraph changes its span; every span
before it is unchanged, and the ones after it too unless the edit moved its
span's end (the span then resynchronises at the next anchor). Short
paragraphs still share a request (about ``ANCHOR_EVERY`` of them), so the
requests stay few.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["ANCHOR_EVERY", "chunk_texts", "split_stable", "split_text"]

ANCHOR_EVERY = 4
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")

# Each pattern matches a separator *including* the whitespace after it; a cut
# goes right after the match, so whitespace stays with the text before it.
_SENTENCE = re.compile(
    r"\n[ \t]*\n\s*"  # paragraph break
    r"|[.!?\u2026]+[\"'\u201d\u2019\u00bb)\]]*\s+"  # . ! ? ... then closing quotes/brackets, then space
    r"|[\u3002\uff01\uff1f]+[\u300d\u300f\uff09)\"'\u201d\u2019]*\s*"  # CJK full stops need no space
    r"|\n\s*"  # a line break
)
_CLAUSE = re.compile(
    r"[,;:]+[\"'\u201d\u2019)\]]*\s+"
    r"|\s+[\u2013\u2014-]{1,2}\s+"  # spaced dashes
    r"|[\u2013\u2014]"  # unspaced em/en dash
    r"|[\uff0c\u3001\uff1b\uff1a]\s*"  # CJK comma, enumeration comma, semicolon, colon
)
_WORD = re.compile(r"\s+")
_LEVELS = (_SENTENCE, _CLAUSE, _WORD)
# Characters that must stay with the character before them.
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f"}


def split_text(text: str, limit: int) -> list[str]:
    """``text`` cut into pieces whose stripped length is at most ``limit`` (see the module doc)."""
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    if not text.strip():
        return [text] if text else []
    pieces = _pack(text, limit, 0)
    return _fold_blank(pieces)


def chunk_texts(text: str, limit: int, *, stable: bool = False) -> list[str]:
    """What is sent to the provider: each piece of ``split_text`` (``split_stable`` when ``stable``)
    stripped of surrounding whitespace."""
    pieces = split_stable(text, limit) if stable else split_text(text, limit)
    return [piece.strip() for piece in pieces]


def split_stable(text: str, limit: int) -> list[str]:
    """``text`` cut as ``split_text`` does, with boundaries that survive edits elsewhere (see the module doc)."""
    if limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    if not text.strip() or _fits(text, limit):
        return split_text(text, limit)
    spans: list[str] = []
    current = ""
    least = max(1, limit // 8)
    for paragraph in _units_of(_PARAGRAPH, text):
        if current and (
            not _fits(current + paragraph, limit) or (len(current.strip()) >= least and _anchor(paragraph))
        ):
            spans.append(current)
            current = ""
        current += paragraph
    if current:
        spans.append(current)
    return _fold_blank([piece for span in spans for piece in _pack(span, limit, 0)])


def _anchor(paragraph: str) -> bool:
    lead = paragraph.strip()[:64].encode("utf-8")
    return bool(lead) and int.from_bytes(hashlib.sha256(lead).digest()[:4], "big") % ANCHOR_EVERY == 0


def _units_of(pattern: re.Pattern[str], text: str) -> list[str]:
    units: list[str] = []
    start = 0
    for match in pattern.finditer(text):
        if match.end() > start:
            units.append(text[start : match.end()])
            start = match.end()
    if start < len(text):
        units.append(text[start:])
    return units


def _units(text: str, level: int) -> list[str]:
    """``text`` cut after every separator of ``level`` (a partition of ``text``)."""
    units: list[str] = []
    start = 0
    for match in _LEVELS[level].finditer(text):
        end = match.end()
        if end > start:
            units.append(text[start:end])
            start = end
    if start < len(text):
        units.append(text[start:])
    return units


def _fits(piece: str, limit: int) -> bool:
    return len(piece.strip()) <= limit


def _pack(text: str, limit: int, level: int) -> list[str]:
    if _fits(text, limit):
        return [text]
    if level == len(_LEVELS):
        return _hard_split(text, limit)
    out: list[str] = []
    current = ""
    for unit in _units(text, level):
        if not _fits(unit, limit):
            if current:
                out.append(current)
                current = ""
            out.extend(_pack(unit, limit, level + 1))
            continue
        if _fits(current + unit, limit):
            current += unit
        else:
            out.append(current)
            current = unit
    if current:
        out.append(current)
    return out


def _hard_split(text: str, limit: int) -> list[str]:
    """Cut a single over-long word every ``limit`` characters, backing off to keep marks with their base."""
    out: list[str] = []
    start = 0
    while len(text) - start > limit:
        cut = start + limit
        while cut > start + 1 and _attached(text[cut]):
            cut -= 1
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def _attached(ch: str) -> bool:
    return ch in _JOINERS or unicodedata.combining(ch) != 0 or unicodedata.category(ch) == "Mn"


def _fold_blank(pieces: list[str]) -> list[str]:
    """Merge whitespace-only pieces into a neighbour (they carry nothing to say)."""
    out: list[str] = []
    pending = ""
    for piece in pieces:
        if not piece.strip():
            if out:
                out[-1] += piece
            else:
                pending += piece
            continue
        out.append(pending + piece)
        pending = ""
    if pending:  # only possible when every piece was blank, which split_text rules out
        out.append(pending)
    return out
