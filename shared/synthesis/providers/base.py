"""What every HTTP provider shares: sending, error classification, secrets.

Classification (the same for every provider):

- no response (timeout, connection failure): transient;
- 429, 408 and 5xx: transient, with the ``Retry-After`` header (seconds or an
  HTTP date) as the retry delay when there is one;
- any other 4xx: permanent; the provider's own message (from its error body)
  goes into the error, so it ends up in the job's ``error``;
- 2xx whose body is not the audio asked for: transient (``BadAudioError``).

Secrets never appear in an error: messages are built from the status and the
provider's error body only (never from request headers or URLs that carry a
key), and ``redact`` removes any configured secret a provider echoes back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from shared.errors import (
    HttpClientError,
    HttpTimeoutError,
    PermanentSynthesisError,
    TransientSynthesisError,
)
from shared.ports import HttpClient, HttpClientResponse, SynthesisRequest, SynthesisResult
from shared.audio.kinds import BadAudioError, identify
from shared.audio.formats import extension_for, mime_type_for
from shared.audio.wav import wav_bytes

MAX_MESSAGE = 500  # characters of a provider's error message kept in the job's error
_MAX_RETRY_AFTER = 12 * 3600.0  # Cloudflare Queues' longest delay

MessageOf = Callable[[Any], str | None]
"""Takes a provider's parsed JSON error body, returns its human message (None if not found)."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds < 0:  # NaN or in the past
        return 0.0
    return min(seconds, _MAX_RETRY_AFTER)


def json_body(response: HttpClientResponse) -> Any:
    """The body parsed as JSON, or None if it is not JSON."""
    try:
        return json.loads(response.body)
    except (ValueError, UnicodeDecodeError):
        return None


def body_snippet(body: bytes, limit: int = 200) -> str:
    text = body[:limit].decode("utf-8", errors="replace").strip()
    return " ".join(text.split()) or "(empty body)"


def error_message(response: HttpClientResponse, message_of: MessageOf) -> str:
    """The provider's message for an error response: from its JSON error body, else the start of the body."""
    data = json_body(response)
    message = None
    if data is not None:
        try:
            message = message_of(data)
        except (AttributeError, KeyError, IndexError, TypeError):
            message = None
    if not message:
        message = body_snippet(response.body)
    return " ".join(str(message).split())[:MAX_MESSAGE]


def classify(
    provider: str,
    response: HttpClientResponse,
    message_of: MessageOf,
    secrets: Iterable[str | None] = (),
) -> None:
    """Raise the transient or permanent error an unsuccessful response means; return on 2xx."""
    status = response.status
    if 200 <= status < 300:
        return
    message = redact(error_message(response, message_of), secrets)
    text = f"{provider} answered HTTP {status}: {message}"
    if status in (408, 429) or status >= 500:
        raise TransientSynthesisError(text, retry_after=parse_retry_after(response.header("retry-after")))
    raise PermanentSynthesisError(text)


async def send(
    http: HttpClient,
    provider: str,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str],
    body: bytes | None,
    timeout: float,
    secrets: Iterable[str | None] = (),
) -> HttpClientResponse:
    """One request; no response at all is a transient error naming the provider."""
    try:
        return await http.request(method, url, headers=headers, body=body, timeout=timeout)
    except HttpTimeoutError as exc:
        raise TransientSynthesisError(f"{provider}: no response within {timeout:g} s") from exc
    except HttpClientError as exc:
        detail = redact(str(exc), secrets)[:MAX_MESSAGE]
        raise TransientSynthesisError(f"{provider}: request failed: {detail}") from exc


def result_for(
    audio: bytes, request: SynthesisRequest, *, sample_rate: int | None, characters: int | None = None
) -> SynthesisResult:
    """A ``SynthesisResult`` labelled from the bytes (``identify``); garbage raises ``BadAudioError``."""
    kind = identify(audio, request.format, sample_rate)
    return SynthesisResult(
        audio=audio,
        mime_type=kind.mime_type,
        extension=kind.extension,
        sample_rate=kind.sample_rate,
        characters=len(request.text) if characters is None else characters,
    )


def wrap_pcm(pcm: bytes, request: SynthesisRequest, sample_rate: int, *, characters: int | None = None) -> SynthesisResult:
    """Raw s16le mono PCM from a provider, as the requested ``wav`` (with a header) or ``pcm``."""
    if not pcm:
        raise BadAudioError("the provider returned no audio (0 bytes)")
    if len(pcm) % 2:
        raise BadAudioError(f"raw PCM of {len(pcm)} bytes is not whole 16-bit samples")
    if request.format == "wav":
        audio = wav_bytes(pcm, sample_rate)
    else:
        audio = pcm
    return SynthesisResult(
        audio=audio,
        mime_type=mime_type_for(request.format, sample_rate=sample_rate),
        extension=extension_for(request.format),
        sample_rate=sample_rate,
        characters=len(request.text) if characters is None else characters,
    )


def json_request(payload: Mapping[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def first_str(data: Any, *paths: tuple[Any, ...]) -> str | None:
    """The first string found at any of ``paths`` (keys and indexes) inside ``data``."""
    for path in paths:
        node = data
        try:
            for step in path:
                node = node[step]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(node, str) and node.strip():
            return node
    return None
