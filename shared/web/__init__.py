"""The web page served by the api Worker at ``GET /``.

One dependency-free HTML document: type text, pick a model and voice from
``/v1/models``, submit, watch the job, play and download the audio, and see
recent jobs. Its parts are Python string modules (``body``, ``style``,
``script``) rather than package data files, so the page travels inside a
Python Worker bundle like any other module; it is assembled on the first
request, never at import (Worker startup snapshots top-level code).

The style and script are inline, allowed by their SHA-256 in a strict
Content-Security-Policy: nothing else may run, and the page may talk only to
its own origin (plus ``blob:`` audio it made itself).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import lru_cache

from shared.http import Headers, HttpRequest, HttpResponse


@dataclass(frozen=True)
class Page:
    html: bytes
    etag: str
    csp: str


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@lru_cache(maxsize=1)
def page() -> Page:
    from shared.web.body import BODY
    from shared.web.script import JS
    from shared.web.style import CSS

    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>Text to speech</title>\n"
        '<link rel="icon" href="data:,">\n'
        f"<style>{CSS}</style>\n</head>\n<body>{BODY}<script>{JS}</script>\n</body>\n</html>\n"
    ).encode()
    csp = "; ".join(
        [
            "default-src 'none'",
            f"script-src '{_sha256(JS)}'",
            f"style-src '{_sha256(CSS)}'",
            "connect-src 'self'",
            "media-src 'self' blob:",  # 'self' for signed audio links
            "img-src 'self' data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )
    etag = '"' + hashlib.sha256(html).hexdigest()[:32] + '"'
    return Page(html, etag, csp)


def index_response(request: HttpRequest) -> HttpResponse:
    """``GET /``: the page, with a validator so browsers revalidate cheaply."""
    p = page()
    headers = {
        "ETag": p.etag,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": p.csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if_none_match = request.headers.get("if-none-match") or ""
    if p.etag in [tag.strip() for tag in if_none_match.split(",")]:
        return HttpResponse.empty(304, headers)
    headers["Content-Type"] = "text/html; charset=utf-8"
    return HttpResponse(status=200, headers=Headers(headers), body=p.html)
