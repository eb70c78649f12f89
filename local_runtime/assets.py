"""Workers Static Assets, as the local runtime plays them: the web page's files, served before the api.

On Cloudflare the api Worker's ``[assets] directory`` (``shared/web/``) is
uploaded with the Worker and served by Cloudflare before the Worker runs
(``run_worker_first`` off): a ``GET`` or ``HEAD`` whose path names a file
gets that file, every other request goes to the Worker. This module does the
same for the local runtime, with the part of Cloudflare's behaviour the page
uses (developers.cloudflare.com/workers/static-assets/):

- a path that names a file is the assets' whatever the method: other
  methods than ``GET`` and ``HEAD`` get 405;
- ``/`` is ``index.html``; ``/index.html`` and ``/index`` redirect to ``/``
  (307, the default ``auto-trailing-slash`` handling);
- files whose name starts with ``_`` or ``.`` are not served (``_headers``);
- the default headers: ``Content-Type`` from the extension, a strong
  ``ETag`` of the content (``If-None-Match`` answers 304) and
  ``Cache-Control: public, max-age=0, must-revalidate``;
- then the rules of the directory's ``_headers`` file, in order: a path
  pattern line (``*`` a splat, ``:name`` one segment), indented
  ``Name: value`` lines that replace a default (a second matching rule's
  value is appended, comma separated) and ``! Name`` lines that remove one.

Files are read when asked for (a few KB), so an edit shows on the next load.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

from shared.http import Headers, HttpRequest, HttpResponse

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CACHE_CONTROL = "public, max-age=0, must-revalidate"
HEADERS_FILE = "_headers"


def web_dir() -> Path:
    """The page's folder in the installed ``shared`` package (the api Worker's ``[assets] directory``)."""
    return Path(str(resources.files("shared").joinpath("web")))


@dataclass(frozen=True)
class HeaderRule:
    pattern: re.Pattern[str]
    set: tuple[tuple[str, str], ...] = ()
    remove: tuple[str, ...] = ()


class HeadersFileError(ValueError):
    """A ``_headers`` line that cannot be read (the message names the line)."""


def _compile(path_pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\*|:[A-Za-z]\w*)", path_pattern)
    regex = "".join(
        ".*" if part == "*" else "[^/]+" if part.startswith(":") else re.escape(part) for part in parts if part
    )
    return re.compile(regex + r"\Z")


def parse_headers_file(text: str) -> list[HeaderRule]:
    """The rules of a ``_headers`` file, in order."""
    rules: list[HeaderRule] = []
    pattern: re.Pattern[str] | None = None
    sets: list[tuple[str, str]] = []
    removes: list[str] = []

    def close() -> None:
        if pattern is not None:
            rules.append(HeaderRule(pattern, tuple(sets), tuple(removes)))

    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            close()
            if not line.startswith("/"):
                raise HeadersFileError(f"{HEADERS_FILE} line {number}: a rule starts with a path, not {line!r}")
            pattern, sets, removes = _compile(line.strip()), [], []
            continue
        if pattern is None:
            raise HeadersFileError(f"{HEADERS_FILE} line {number}: a header before any path")
        entry = line.strip()
        if entry.startswith("!"):
            removes.append(entry[1:].strip())
            continue
        name, sep, value = entry.partition(":")
        if not sep or not name.strip():
            raise HeadersFileError(f"{HEADERS_FILE} line {number}: want 'Name: value', got {entry!r}")
        sets.append((name.strip(), value.strip()))
    close()
    return rules


@dataclass
class _File:
    mtime_ns: int = -1
    size: int = -1
    body: bytes = b""
    etag: str = ""


@dataclass
class StaticAssets:
    """The files of one folder, served as Workers Static Assets serves them."""

    root: Path = field(default_factory=web_dir)
    _cache: dict[str, _File] = field(default_factory=dict)

    def _read(self, name: str) -> _File | None:
        path = self.root / name
        try:
            stat = path.stat()
        except OSError:
            return None
        cached = self._cache.get(name)
        if cached is None or (cached.mtime_ns, cached.size) != (stat.st_mtime_ns, stat.st_size):
            body = path.read_bytes()
            cached = _File(stat.st_mtime_ns, stat.st_size, body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
            self._cache[name] = cached
        return cached

    def _file_name(self, path: str) -> str | None:
        """The served file of a request path, or None (then the Worker answers)."""
        if path == "/":
            return "index.html"
        name = path[1:]
        if not name or "/" in name or name[0] in "_." or not (self.root / name).is_file():
            return None  # the page is one flat folder; nothing hidden, nothing below it
        return name

    def _rules(self) -> list[HeaderRule]:
        found = self._read(HEADERS_FILE)
        return parse_headers_file(found.body.decode()) if found is not None else []

    def response(self, request: HttpRequest) -> HttpResponse | None:
        """The asset's response, or None when the request is the Worker's."""
        redirect = request.path in ("/index.html", "/index")
        name = "index.html" if redirect else self._file_name(request.path)
        found = self._read(name) if name is not None else None
        if found is None:
            return None
        if request.method not in ("GET", "HEAD"):
            return HttpResponse.empty(405)  # a path of a file is the assets', whatever the method
        if redirect:
            query = urlencode(request.query, doseq=True)
            return HttpResponse.empty(307, {"Location": "/" + (f"?{query}" if query else "")})
        headers = Headers({
            "Content-Type": CONTENT_TYPES.get(Path(name or "").suffix, "application/octet-stream"),
            "ETag": found.etag,
            "Cache-Control": DEFAULT_CACHE_CONTROL,
        })
        custom: dict[str, str] = {}
        for rule in self._rules():
            if not rule.pattern.match(request.path):
                continue
            for header, value in rule.set:
                key = header.lower()
                custom[key] = f"{custom[key]}, {value}" if key in custom else value
                headers[header] = custom[key]
            for header in rule.remove:
                custom.pop(header.lower(), None)
                headers = Headers([(k, v) for k, v in headers.items() if k.lower() != header.lower()])
        if found.etag in [tag.strip().removeprefix("W/") for tag in (request.headers.get("if-none-match") or "").split(",")]:
            return HttpResponse(status=304, headers=headers)
        return HttpResponse(status=200, headers=headers, body=found.body)  # the server sends no body for HEAD
