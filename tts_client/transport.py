"""Blocking HTTP over the standard library: one connection per request.

A connection per request keeps the transport safe to call from several
threads at once (the async client runs it in worker threads); polling a job
every few seconds gains nothing from keep-alive.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.client import HTTPConnection, HTTPException, HTTPResponse, HTTPSConnection
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit

from pydantic import ValidationError

from shared.models import ErrorBody
from tts_client.errors import ApiError, TransportError
from tts_client.models import Download

USER_AGENT = "tts-client/0.1"
CHUNK = 256 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise ApiError(self.status, "invalid_response", f"expected JSON, got {self.body[:80]!r}") from exc


class Transport:
    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"API URL must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._prefix = parts.path.rstrip("/")
        self.token = token or None
        self.timeout = timeout

    # --- public -------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        query: Mapping[str, str | int | None] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        """Send one request (``json_body`` as JSON, or ``body`` as it is with the caller's Content-Type);
        a 4xx/5xx answer raises ``ApiError``."""
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        conn, response = self._open(method, self._url(path, query), body, all_headers)
        try:
            data = response.read()
        except (OSError, HTTPException) as exc:
            raise TransportError(f"{method} {path}: connection broke while reading: {exc}") from exc
        finally:
            conn.close()
        reply = Reply(response.status, _lower(response.getheaders()), data)
        if reply.status >= 400:
            raise _api_error(reply)
        return reply

    def download(self, url: str, sink: BinaryIO, headers: Mapping[str, str] | None = None) -> Download:
        """GET ``url`` (a path, or an absolute URL on any host) and stream its body into ``sink``.

        The bearer token goes only to the API's own origin, never to another
        host a link may point at (a signed link needs no token).
        """
        conn, response = self._open("GET", self._url(url), None, dict(headers or {}))
        try:
            if response.status >= 400:
                raise _api_error(Reply(response.status, _lower(response.getheaders()), response.read()))
            written = 0
            while chunk := response.read(CHUNK):
                sink.write(chunk)
                written += len(chunk)
        except (OSError, HTTPException) as exc:
            raise TransportError(f"GET {url}: connection broke while downloading: {exc}") from exc
        finally:
            conn.close()
        return Download(written, response.getheader("content-type"))

    def lines(self, path: str, headers: Mapping[str, str] | None = None) -> Iterator[bytes]:
        """GET ``path`` and yield its body line by line as it comes (server-sent events); 4xx/5xx raise ``ApiError``."""
        all_headers = {"Accept": "text/event-stream", **(headers or {})}
        conn, response = self._open("GET", self._url(path), None, all_headers)
        try:
            if response.status >= 400:
                raise _api_error(Reply(response.status, _lower(response.getheaders()), response.read()))
            while line := response.readline():
                yield line
        except (OSError, HTTPException) as exc:
            raise TransportError(f"GET {path}: the event stream broke: {exc}") from exc
        finally:
            conn.close()

    # --- internals ------------------------------------------------------------

    def _url(self, path: str, query: Mapping[str, str | int | None] | None = None) -> str:
        if path.startswith(("http://", "https://")):
            return path
        pairs = {k: str(v) for k, v in (query or {}).items() if v is not None}
        return f"{self.base_url}{path}" + (f"?{urlencode(pairs)}" if pairs else "")

    def _open(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[HTTPConnection, HTTPResponse]:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise TransportError(f"not an http(s) URL: {url!r}")
        headers.setdefault("User-Agent", USER_AGENT)
        headers.setdefault("Accept", "application/json")
        same_origin = (parts.scheme, parts.netloc) == (self._scheme, self._netloc)
        if self.token and same_origin:
            headers["Authorization"] = f"Bearer {self.token}"
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        cls = HTTPSConnection if parts.scheme == "https" else HTTPConnection
        conn = cls(parts.hostname, parts.port, timeout=self.timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            return conn, conn.getresponse()
        except (OSError, HTTPException) as exc:
            conn.close()
            if isinstance(exc, socket.timeout):
                raise TransportError(f"{method} {url}: no answer within {self.timeout:g} s") from exc
            if isinstance(exc, ConnectionRefusedError):
                where = f"{parts.scheme}://{parts.netloc}"
                raise TransportError(
                    f"cannot connect to {where} (connection refused): is the server running? "
                    f"Start one with `tts-pipeline dev`, or pass --api URL"
                ) from exc
            if isinstance(exc, socket.gaierror):
                raise TransportError(f"cannot connect to {parts.hostname}: unknown host ({exc.strerror})") from exc
            raise TransportError(f"{method} {url}: {exc}") from exc


def _lower(pairs: list[tuple[str, str]]) -> dict[str, str]:
    return {k.lower(): v for k, v in pairs}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def _api_error(reply: Reply) -> ApiError:
    retry_after = _retry_after(reply.headers.get("retry-after"))
    try:
        raw = json.loads(reply.body)
        detail = ErrorBody.model_validate(raw).error
    except (ValueError, ValidationError):
        text = reply.body[:200].decode("utf-8", "replace").strip() or "no body"
        return ApiError(reply.status, "http_error", text, retry_after=retry_after)
    details = {k: v for k, v in raw["error"].items() if k not in ("code", "message", "field")}
    return ApiError(
        reply.status, detail.code, detail.message, field=detail.field, details=details, retry_after=retry_after
    )
