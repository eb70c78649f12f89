"""``shared.ports.HttpClient`` over the Workers runtime's ``fetch``.

``AbortSignal.timeout(ms)`` bounds the whole exchange (the body is read
before it fires or the read is aborted too). A ``TimeoutError`` /
``AbortError`` becomes ``HttpTimeoutError``; any other failure to get a
response becomes ``HttpConnectionError``. Bodies are copied into Python once
(``convert.array_buffer_to_bytes``).
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudflare_adapters.convert import array_buffer_to_bytes, bytes_to_js, to_js_value
from js import AbortSignal, fetch
from pyodide.ffi import JsException
from shared.errors import HttpConnectionError, HttpTimeoutError
from shared.ports import HTTP_MAX_RESPONSE_BYTES, HttpClientResponse

_TIMEOUT_NAMES = ("TimeoutError", "AbortError")


def _is_timeout(exc: BaseException) -> bool:
    name = str(getattr(exc, "name", "") or "")
    return name in _TIMEOUT_NAMES or any(n in str(exc) for n in _TIMEOUT_NAMES)


class FetchHttpClient:
    """Outbound HTTP from a Worker."""

    def __init__(self, *, max_response_bytes: int = HTTP_MAX_RESPONSE_BYTES, redirect: str = "follow") -> None:
        self._max = max_response_bytes
        # "manual": a 3xx comes back as the response (webhooks never follow one: SSRF).
        self._redirect = redirect

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> HttpClientResponse:
        init = to_js_value({"method": method.upper(), "headers": dict(headers), "redirect": self._redirect})
        if body is not None:
            init.body = bytes_to_js(body)
        init.signal = AbortSignal.timeout(max(1, int(timeout * 1000)))
        try:
            response = await fetch(url, init)
            out_headers = {str(k).lower(): str(v) for k, v in response.headers.entries()}
            declared = out_headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self._max:
                raise HttpConnectionError(f"response of {declared} bytes is over the {self._max}-byte limit")
            data = await array_buffer_to_bytes(response.arrayBuffer())
        except HttpConnectionError:
            raise
        except (JsException, Exception) as exc:  # noqa: BLE001 - every JS failure is "no response"
            if _is_timeout(exc):
                raise HttpTimeoutError(f"{method} {url.split('?')[0]}: no response within {timeout:g} s") from exc
            raise HttpConnectionError(f"{method} {url.split('?')[0]}: {type(exc).__name__}: {exc}") from exc
        if len(data) > self._max:
            raise HttpConnectionError(f"response of {len(data)} bytes is over the {self._max}-byte limit")
        return HttpClientResponse(status=int(response.status), headers=out_headers, body=data)
