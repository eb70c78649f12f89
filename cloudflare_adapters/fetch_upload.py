"""``shared.ports.StreamUploader`` over the Workers runtime's ``fetch``: an R2 object PUT as it is read.

The R2 object's ``ReadableStream`` is piped into a ``FixedLengthStream`` of
the object's size, whose readable side is the fetch's body: the bytes move
inside the JS runtime, never through Python, and the request carries a
``Content-Length`` (S3 and GCS presigned PUTs refuse chunked uploads). The
given headers' ``Content-Length`` is dropped: the stream sets it.
``redirect: "manual"``: a 3xx comes back as the answer. ``AbortSignal.timeout``
bounds the exchange; the answer's body is canceled unread (only its status counts).
"""

from __future__ import annotations

from collections.abc import Mapping

from cloudflare_adapters.convert import to_js_value
import js
from js import AbortSignal, fetch
from pyodide.ffi import JsException
from shared.errors import HttpConnectionError, HttpTimeoutError
from shared.ports import BlobBody

_TIMEOUT_NAMES = ("TimeoutError", "AbortError")


def _is_timeout(exc: BaseException) -> bool:
    name = str(getattr(exc, "name", "") or "")
    return name in _TIMEOUT_NAMES or any(n in str(exc) for n in _TIMEOUT_NAMES)


class FetchStreamUploader:
    """Streamed PUTs from a Worker."""

    async def put(
        self, url: str, *, headers: Mapping[str, str], body: BlobBody, length: int, timeout: float
    ) -> int:
        sent = {k: v for k, v in headers.items() if k.lower() != "content-length"}
        init = to_js_value({"method": "PUT", "headers": sent, "redirect": "manual"})
        # Read when used: a workerd global that plain JS hosts (the Pyodide-in-Node tests) lack.
        fixed = js.FixedLengthStream.new(length)
        pipe = body.raw.pipeTo(fixed.writable)  # runs as the fetch reads the readable side
        init.body = fixed.readable
        init.signal = AbortSignal.timeout(max(1, int(timeout * 1000)))
        try:
            response = await fetch(url, init)
            await pipe
            status = int(response.status)
            if response.body:
                await response.body.cancel()
        except (JsException, Exception) as exc:  # noqa: BLE001 - every JS failure is "no response"
            # Neither URL nor host in the message: the URL is a secret (the caller scrubs too).
            if _is_timeout(exc):
                raise HttpTimeoutError(f"PUT: no response within {timeout:g} s") from exc
            raise HttpConnectionError(f"PUT: {type(exc).__name__}: {exc}") from exc
        return status
