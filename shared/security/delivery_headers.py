"""Which request headers a customer may have sent with a delivery PUT (``deliver.headers``).

A presigned PUT URL often needs headers the signature covers (``Content-Type``,
``x-amz-server-side-encryption``, ``x-ms-blob-type``, ``x-goog-meta-*``), so a
job may name some. The rule: RFC 9110 token names and visible-ASCII values
(tab and space inside), at most ``MAX_HEADERS`` of them and ``MAX_HEADERS_BYTES``
in all, each name once whatever its case. Refused: hop-by-hop headers and the
ones that describe the message itself (``Host``, ``Content-Length``,
``Transfer-Encoding``, ``Expect``, ...): the service sets those, and a
``Content-Length`` that lied would cut the upload short or hang it.

Header values can be credentials (an ``Authorization`` for a bucket that
takes one): they are stored with the job and never shown, like the URL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MAX_HEADERS = 20
MAX_HEADER_NAME_CHARS = 100
MAX_HEADERS_BYTES = 8192
"""Names plus values, in bytes: far under any receiver's header limit."""

REFUSED = frozenset({
    # hop-by-hop (RFC 9110 7.6.1) and their old spellings
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
    "trailer", "transfer-encoding", "upgrade",
    # the message's own framing and routing: the service sets these
    "host", "content-length", "expect", "content-encoding",
    # the service's own identity
    "user-agent",
})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_VALUE = re.compile(r"^[\x21-\x7e]([\x20-\x7e\t]*[\x21-\x7e])?$|^$")


def check_delivery_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers as given if they may go with a delivery; ``ValueError`` naming the problem otherwise."""
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    size = 0
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise ValueError("header names and values must be strings")
        if not name or len(name) > MAX_HEADER_NAME_CHARS or not _TOKEN.match(name):
            raise ValueError(f"{name[:MAX_HEADER_NAME_CHARS]!r} is not a valid header name")
        lower = name.lower()
        if lower in REFUSED:
            raise ValueError(f"{name!r} is set by the service and cannot be given")
        if lower in seen:
            raise ValueError(f"{name!r} is given more than once")
        seen.add(lower)
        # Never echo a value: it may be a credential.
        if not _VALUE.match(value):
            raise ValueError(f"the value of {name!r} must be visible ASCII (no control characters or line breaks)")
        size += len(name) + len(value)
    if size > MAX_HEADERS_BYTES:
        raise ValueError(f"headers total over {MAX_HEADERS_BYTES} bytes")
    return dict(headers)
