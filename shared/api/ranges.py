"""HTTP ``Range`` and conditional headers for the audio (RFC 9110 sections 13 and 14).

Choices, documented in docs/security.md:

- one valid range: ``206`` with that range;
- several valid ranges: ``200`` with the whole object (RFC 9110 14.2 lets a server
  ignore Range; a multipart body would cost one R2 read per part and could not be
  streamed as the single R2 body it is), unless none of them is satisfiable: ``416``;
- a ``bytes`` range that is not valid syntax (``bytes=+1-+2``, ``bytes=9-3``,
  whitespace, signs, non-ASCII digits): ``416`` (14.2: invalid ranges SHOULD get 416);
- another range unit: ignored, the whole object (14.2: MUST ignore).
"""

from __future__ import annotations

import re

from shared.ports import ByteRange

_RANGE_SPEC = re.compile(r"([0-9]+)-([0-9]*)|-([0-9]+)")
_HUGE = 10**18  # any position past this is past every object; keeps int() off 1,000-digit numbers
_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


class UnsatisfiableRange(Exception):
    """Raised when a ``bytes`` range is not valid syntax or lies outside the object (416)."""

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(header)
        self.reason = reason


def _position(digits: str) -> int:
    return _HUGE if len(digits) > 18 else int(digits)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one byte range to send, or None for the whole object (see the module's choices)."""
    if not header:
        return None
    unit, eq, spec = header.partition("=")
    if not eq or unit.lower() != "bytes":
        return None
    if spec[:1] in (" ", "\t"):
        raise UnsatisfiableRange(header, "the Range header has whitespace after bytes=")
    elements = [e.strip(" \t") for e in spec.split(",")]  # OWS is allowed around commas
    specs = [e for e in elements if e]  # RFC 9110 5.6.1: empty list elements are ignored
    if not specs:
        raise UnsatisfiableRange(header, "the Range header names no range")
    ranges: list[ByteRange] = []
    for element in specs:
        match = _RANGE_SPEC.fullmatch(element)
        if match is None:
            raise UnsatisfiableRange(header, f"range {element!r} is not valid bytes=first-last syntax")
        first, last, suffix = match.groups()
        if suffix is not None:
            length = _position(suffix)
            if length > 0 and size > 0:
                ranges.append(ByteRange(offset=max(size - length, 0), length=min(length, size)))
            continue
        start = _position(first)
        end = _position(last) if last else size - 1
        if last and end < start:
            raise UnsatisfiableRange(header, f"range {element!r} ends before it starts")
        if start < size:
            end = min(end, size - 1)
            ranges.append(ByteRange(offset=start, length=end - start + 1))
    if not ranges:
        raise UnsatisfiableRange(header, f"range is outside the {size} bytes of audio")
    if len(specs) > 1:
        return None  # several ranges: the whole object (documented choice)
    return ranges[0]


def entity_tags(header: str) -> list[tuple[bool, str]] | None:
    """``(weak, opaque-tag)`` pairs of an If-None-Match / If-Match list; None if it does not parse."""
    tags: list[tuple[bool, str]] = []
    pos = 0
    text = header.strip()
    while pos < len(text):
        match = _ENTITY_TAG.match(text, pos)
        if match is None:
            if text[pos:].strip(" \t,") == "":
                break
            if text[pos] == ",":  # an empty list element
                pos += 1
                continue
            return None
        tags.append((match.group(1) is not None, match.group(2)))
        pos = match.end()
    return tags


def none_match(header: str | None, etag: str) -> bool:
    """If-None-Match is false (answer 304) when any tag matches ours by weak comparison (RFC 9110 13.1.2)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    tags = entity_tags(header)
    return tags is not None and any(opaque == etag for _, opaque in tags)


def if_range_holds(header: str | None, etag: str) -> bool:
    """Whether to honour Range under ``If-Range`` (RFC 9110 13.1.5): only our own etag, compared strongly.

    A date never matches: the audio is sent without ``Last-Modified``, so a client cannot
    hold a date validator for it; a weak tag never matches (strong comparison).
    """
    if header is None:
        return True
    return header.strip() == etag
