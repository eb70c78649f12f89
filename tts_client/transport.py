"""HTTP for the client, on httpx: the same requests sent by ``Transport`` (blocking, ``httpx.Client``)
and ``AsyncTransport`` (asyncio, ``httpx.AsyncClient``), sharing everything but the send.

Rule: every failure leaves here as ``ApiError`` (the server answered 4xx/5xx, its error body read) or
``TransportError`` (no answer: refused, unknown host, timeout, a broken stream), never as an httpx
error. The bearer token goes only to the API's own origin. Each transport holds one httpx client (a
keep-alive pool, proxies from the environment ignored), closed with it. ``_Http`` builds each request
and reads each answer without doing I/O; the two subclasses only send and read bodies.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import httpx
from pydantic import ValidationError

from shared.models import ErrorBody
from tts_client.errors import ApiError, TransportError
from tts_client.models import Download

USER_AGENT = "tts-client/0.1"
CHUNK = 256 * 1024
Query = Mapping[str, str | int | None]


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


class _Http:
    """What both transports share: the base URL and token, request building, error interpretation."""

    def __init__(self, base_url: str, token: str | None, timeout: float) -> None:
        parts = httpx.URL(base_url.strip()) if base_url.strip().startswith(("http://", "https://")) else None
        if parts is None or not parts.host:
            raise ValueError(f"API URL must be http(s)://host[:port][/prefix], got {base_url!r}")
        self.base_url = base_url.strip().rstrip("/")
        self._origin = (parts.scheme, parts.netloc)
        self.token = token or None
        self.timeout = timeout
        self._options: dict[str, Any] = {
            "timeout": timeout, "follow_redirects": False, "trust_env": False,
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
        }

    def _build(
        self,
        http: httpx.Client | httpx.AsyncClient,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        query: Query | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> httpx.Request:
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        url = self._url(path, query)
        if url.scheme not in ("http", "https") or not url.host:
            raise TransportError(f"not an http(s) URL: {str(url)!r}")
        if self.token and (url.scheme, url.netloc) == self._origin:
            all_headers["Authorization"] = f"Bearer {self.token}"
        return http.build_request(method, url, content=body, headers=all_headers)

    def _url(self, path: str, query: Query | None = None) -> httpx.URL:
        pairs = {k: str(v) for k, v in (query or {}).items() if v is not None}
        absolute = path.startswith(("http://", "https://"))
        try:
            url = httpx.URL(path if absolute else f"{self.base_url}{path}")
        except httpx.InvalidURL as exc:
            raise TransportError(f"not an http(s) URL: {path!r}") from exc
        return url.copy_merge_params(pairs) if pairs else url

    def _no_answer(self, request: httpx.Request, exc: httpx.TransportError) -> TransportError:
        """The error to raise when sending ``request`` got no answer."""
        if isinstance(exc, httpx.TimeoutException):
            return TransportError(f"{request.method} {request.url}: no answer within {self.timeout:g} s")
        cause = _os_error(exc)
        if isinstance(cause, ConnectionRefusedError):
            return TransportError(
                f"cannot connect to {request.url.scheme}://{request.url.netloc.decode()} (connection refused):"
                f" is the server running? Start one with `tts-pipeline dev`, or pass --api URL"
            )
        if isinstance(cause, socket.gaierror):
            return TransportError(f"cannot connect to {request.url.host}: unknown host ({cause.strerror})")
        return TransportError(f"{request.method} {request.url}: {exc}")


class Transport(_Http):
    """Blocking; safe to share between threads. ``transport``: httpx's transport to send through
    (tests pass an ``httpx.MockTransport``)."""

    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = 30.0, *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout)
        self._http = httpx.Client(transport=transport, **self._options)

    def close(self) -> None:
        self._http.close()

    def request(
        self, method: str, path: str, *, json_body: Any = None, query: Query | None = None,
        headers: Mapping[str, str] | None = None, body: bytes | None = None,
    ) -> Reply:
        """Send one request (``json_body`` as JSON, or ``body`` as it is with the caller's Content-Type);
        a 4xx/5xx answer raises ``ApiError``."""
        request = self._build(self._http, method, path, json_body=json_body, query=query, headers=headers, body=body)
        with contextlib.closing(self._send(request)) as response:
            try:
                data = response.read()
            except httpx.TransportError as exc:
                raise TransportError(f"{method} {path}: connection broke while reading: {exc}") from exc
        return _checked(Reply(response.status_code, _lower(response.headers), data))

    def download(self, url: str, sink: BinaryIO, headers: Mapping[str, str] | None = None) -> Download:
        """GET ``url`` (a path, or an absolute URL on any host: a signed link needs no token) and stream
        its body into ``sink``."""
        with contextlib.closing(self._send(self._build(self._http, "GET", url, headers=headers))) as response:
            try:
                if response.status_code >= 400:
                    raise _api_error(Reply(response.status_code, _lower(response.headers), response.read()))
                written = 0
                for chunk in response.iter_bytes(CHUNK):
                    sink.write(chunk)
                    written += len(chunk)
            except httpx.TransportError as exc:
                raise TransportError(f"GET {url}: connection broke while downloading: {exc}") from exc
            return Download(written, response.headers.get("content-type"))

    def lines(self, path: str, headers: Mapping[str, str] | None = None) -> Iterator[bytes]:
        """GET ``path`` and yield its body line by line, without line ends, as it comes (server-sent
        events); 4xx/5xx raise ``ApiError``."""
        request = self._build(self._http, "GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        with contextlib.closing(self._send(request)) as response:
            try:
                if response.status_code >= 400:
                    raise _api_error(Reply(response.status_code, _lower(response.headers), response.read()))
                for line in response.iter_lines():
                    yield line.encode("utf-8")
            except httpx.TransportError as exc:
                raise TransportError(f"GET {path}: the event stream broke: {exc}") from exc

    def _send(self, request: httpx.Request) -> httpx.Response:
        """The response with its body still to read (the caller closes it)."""
        try:
            return self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._no_answer(request, exc) from exc


class AsyncTransport(_Http):
    """The same calls as ``Transport``, awaitable, on one ``httpx.AsyncClient`` (use it from one event loop)."""

    def __init__(
        self, base_url: str, token: str | None = None, timeout: float = 30.0, *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token, timeout)
        self._http = httpx.AsyncClient(transport=transport, **self._options)

    async def close(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, json_body: Any = None, query: Query | None = None,
        headers: Mapping[str, str] | None = None, body: bytes | None = None,
    ) -> Reply:
        """As ``Transport.request``."""
        request = self._build(self._http, method, path, json_body=json_body, query=query, headers=headers, body=body)
        response = await self._send(request)
        try:
            data = await response.aread()
        except httpx.TransportError as exc:
            raise TransportError(f"{method} {path}: connection broke while reading: {exc}") from exc
        finally:
            await response.aclose()
        return _checked(Reply(response.status_code, _lower(response.headers), data))

    async def download(self, url: str, sink: BinaryIO, headers: Mapping[str, str] | None = None) -> Download:
        """As ``Transport.download``."""
        response = await self._send(self._build(self._http, "GET", url, headers=headers))
        try:
            if response.status_code >= 400:
                raise _api_error(Reply(response.status_code, _lower(response.headers), await response.aread()))
            written = 0
            async for chunk in response.aiter_bytes(CHUNK):
                sink.write(chunk)
                written += len(chunk)
        except httpx.TransportError as exc:
            raise TransportError(f"GET {url}: connection broke while downloading: {exc}") from exc
        finally:
            await response.aclose()
        return Download(written, response.headers.get("content-type"))

    async def lines(self, path: str, headers: Mapping[str, str] | None = None) -> AsyncIterator[bytes]:
        """As ``Transport.lines``."""
        request = self._build(self._http, "GET", path, headers={"Accept": "text/event-stream", **(headers or {})})
        response = await self._send(request)
        try:
            if response.status_code >= 400:
                raise _api_error(Reply(response.status_code, _lower(response.headers), await response.aread()))
            async for line in response.aiter_lines():
                yield line.encode("utf-8")
        except httpx.TransportError as exc:
            raise TransportError(f"GET {path}: the event stream broke: {exc}") from exc
        finally:
            await response.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._no_answer(request, exc) from exc


def _os_error(exc: BaseException) -> OSError | None:
    """The operating system's error under httpx's (its cause, or its cause's)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _lower(headers: httpx.Headers) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare enough to fall back to our own backoff


def _checked(reply: Reply) -> Reply:
    if reply.status >= 400:
        raise _api_error(reply)
    return reply


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
