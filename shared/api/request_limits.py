"""What a request may carry: the body size cap, only the query parameters a route takes, and integers
in plain ASCII digits."""

from __future__ import annotations


from shared.api.errors import ApiError
from shared.config import Settings
from shared.http import HttpRequest

def body_limit(settings: Settings) -> int:
    """The largest request body taken (413 above): ``MAX_BODY_BYTES``, or room for
    ``MAX_TEXT_CHARS`` characters of up to 4 UTF-8 bytes, JSON escaping aside."""
    return settings.max_body_bytes or settings.max_text_chars * 6 + 16_384


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, "body_too_large", f"request body is over {limit} bytes")


def check_query(request: HttpRequest, allowed: tuple[str, ...]) -> None:
    """400 for a query parameter the route does not take: unknown input is refused, as in bodies."""
    unknown = sorted(name for name in request.query if name not in allowed)
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5])
        raise ApiError(400, "unknown_query_parameter", f"unknown query parameter(s): {shown}", field=unknown[0][:100])


def ascii_int(raw: str, *, max_digits: int = 18) -> int | None:
    """``raw`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None.

    ``str.isdigit`` and ``int`` take far more: superscripts (``²``), other
    scripts' digits (``١٢``), ``_`` separators, signs and spaces."""
    if not 0 < len(raw) <= max_digits or not raw.isascii() or not raw.isdigit():
        return None
    return int(raw)
