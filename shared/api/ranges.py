"""HTTP ``Range`` header parsing (single byte ranges, RFC 9110)."""

from __future__ import annotations

from shared.ports import ByteRange


class UnsatisfiableRange(Exception):
    """Raised when a syntactically valid range lies outside the object (416)."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Resolve ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` against ``size``.

    Returns None when the header is absent, malformed or asks for several
    ranges: the server then sends the whole object (which RFC 9110 allows).
    """
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise UnsatisfiableRange(header)
            start = max(size - suffix, 0)
            end = size - 1
        else:
            start = int(first)
            if start >= size:
                raise UnsatisfiableRange(header)
            end = int(last) if last else size - 1
            if start < 0 or end < start:
                return None
            end = min(end, size - 1)
    except ValueError:
        return None
    if size == 0 or start >= size:
        raise UnsatisfiableRange(header)
    return ByteRange(offset=start, length=end - start + 1)
