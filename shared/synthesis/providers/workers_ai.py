"""Cloudflare Workers AI text-to-speech, through an ``AiPort``.

Models and their documented shapes (Cloudflare model pages and
``@cloudflare/workers-types``):

- ``@cf/deepgram/aura-1`` and ``@cf/deepgram/aura-2-en``: input ``text``,
  ``speaker``, ``encoding`` (linear16, flac, mulaw, alaw, mp3, opus, aac),
  ``container`` (none, wav, ogg), ``sample_rate``, ``bit_rate``; the output
  is the audio itself (the binding returns a ``ReadableStream``). Deepgram's
  format table: linear16 at 8/16/24/32/48 kHz (wav or none), flac at
  8/16/22.05/32/48 kHz, mp3 and aac at 22.05 kHz, opus in Ogg at 48 kHz (those
  three rates are fixed, so no ``sample_rate`` is sent for them). Deepgram
  takes at most 2,000 characters a request.
- ``@cf/myshell-ai/melotts``: input ``prompt`` and ``lang``; output
  ``{"audio": <base64 MP3>}``.

Two ``AiPort`` adapters: the AI binding (``cloudflare_adapters.ai``) and,
anywhere else, ``WorkersAiRestClient`` over the REST API
``POST /accounts/{account_id}/ai/run/{model}`` (``Authorization: Bearer``),
which returns the audio bytes for aura and the usual envelope
``{"result", "success", "errors", "messages"}`` for JSON outputs. Both raise
the same errors: codes 3007/3008 (timeout, aborted), 3036 (daily allocation
used up) and 3040 (out of capacity) and HTTP 429/5xx are transient; other
codes and 4xx are permanent (Workers AI "Errors" page).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote

from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import AiPort, HttpClient, JsonValue, SynthesisRequest, SynthesisResult
from shared.audio.kinds import BadAudioError
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.providers.base import (
    MAX_MESSAGE,
    classify,
    json_body,
    json_request,
    parse_retry_after,
    redact,
    result_for,
    send,
)

PROVIDER = "workers-ai"
AURA_1 = "@cf/deepgram/aura-1"
AURA_2_EN = "@cf/deepgram/aura-2-en"
MELOTTS = "@cf/myshell-ai/melotts"
AURA_1_SPEAKERS = [
    "angus", "asteria", "arcas", "orion", "orpheus", "athena", "luna", "zeus", "perseus", "helios", "hera", "stella",
]
AURA_2_EN_SPEAKERS = [
    "amalthea", "andromeda", "apollo", "arcas", "aries", "asteria", "athena", "atlas", "aurora", "callista",
    "cora", "cordelia", "delia", "draco", "electra", "harmonia", "helena", "hera", "hermes", "hyperion", "iris",
    "janus", "juno", "jupiter", "luna", "mars", "minerva", "neptune", "odysseus", "ophelia", "orion", "orpheus",
    "pandora", "phoebe", "pluto", "saturn", "thalia", "theia", "vesta", "zeus",
]
MELOTTS_LANGUAGES = ["en", "es", "fr", "zh", "jp", "kr"]
_LINEAR16_RATES = [8000, 16000, 24000, 32000, 48000]
_FLAC_RATES = [8000, 16000, 22050, 32000, 48000]
# our format -> (encoding, container); rate is sent only where Deepgram lets it vary.
_AURA_OUTPUT = {
    "wav": ("linear16", "wav"),
    "pcm": ("linear16", "none"),
    "mp3": ("mp3", "none"),
    "opus": ("opus", "ogg"),
    "flac": ("flac", "none"),
    "aac": ("aac", "none"),
}
_FIXED_RATES = {"mp3": 22050, "aac": 22050, "opus": 48000}
TRANSIENT_CODES = {3007, 3008, 3036, 3040}
_CODE = re.compile(r"\b([345]\d{3})\b")


def workers_ai_specs() -> list[ModelSpec]:
    def aura(model: str, speakers: list[str], default: str, description: str) -> ModelSpec:
        return ModelSpec(
            id=model,
            provider=PROVIDER,
            voices=speakers,
            default_voice=default,
            formats=["mp3", "wav", "pcm", "opus", "flac", "aac"],
            default_format="mp3",
            sample_rates=sorted(set(_LINEAR16_RATES) | set(_FLAC_RATES)),
            default_sample_rate=24000,
            format_sample_rates={
                "wav": _LINEAR16_RATES,
                "pcm": _LINEAR16_RATES,
                "flac": _FLAC_RATES,
                "mp3": [22050],
                "aac": [22050],
                "opus": [48000],
            },
            max_input_chars=2000,
            chars_per_second=50,  # declared speed: a Workers AI speech model on Cloudflare's own network
            description=description,
            language="en",
        )

    return [
        aura(AURA_2_EN, AURA_2_EN_SPEAKERS, "luna", "Deepgram Aura-2 (English) on Workers AI; $0.030 per 1k characters."),
        aura(AURA_1, AURA_1_SPEAKERS, "angus", "Deepgram Aura-1 on Workers AI; $0.015 per 1k characters."),
        ModelSpec(
            id=MELOTTS,
            provider=PROVIDER,
            voices=MELOTTS_LANGUAGES,
            default_voice="en",
            formats=["mp3"],
            default_format="mp3",
            sample_rates=[44100],
            default_sample_rate=44100,
            max_input_chars=2000,
            chars_per_second=50,  # declared speed: a Workers AI speech model on Cloudflare's own network
            description="MeloTTS on Workers AI (voice = language); $0.0002 per audio minute.",
            voice_languages={"en": "en", "es": "es", "fr": "fr", "zh": "zh", "jp": "ja", "kr": "ko"},
        ),
    ]


def classify_ai_error(message: str, status: int | None = None, retry_after: float | None = None) -> Exception:
    """The error a failed Workers AI run means, from its message (binding) or HTTP status (REST)."""
    text = " ".join(message.split())[:MAX_MESSAGE] or "no message"
    codes = {int(c) for c in _CODE.findall(message)}
    if status is not None and (status in (408, 429) or status >= 500):
        return TransientSynthesisError(f"{PROVIDER}: {text}", retry_after=retry_after)
    if codes & TRANSIENT_CODES or re.search(r"timed? ?out|abort|capacity|temporar|unavailable|internal", text, re.I):
        return TransientSynthesisError(f"{PROVIDER}: {text}", retry_after=retry_after)
    if status is not None or codes:
        return PermanentSynthesisError(f"{PROVIDER}: {text}")
    # An error without code or status (a dropped connection inside the runtime): retry it.
    return TransientSynthesisError(f"{PROVIDER}: {text}", retry_after=retry_after)


def _envelope_message(data: Any) -> str | None:
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        for err in errors[:3]:
            if isinstance(err, dict):
                code = err.get("code")
                parts.append(f"{code}: {err.get('message')}" if code is not None else str(err.get("message")))
        return "; ".join(parts)
    return None


class WorkersAiRestClient:
    """``AiPort`` over the REST API, for runtimes without the AI binding (the local runtime)."""

    def __init__(
        self,
        http: HttpClient,
        *,
        account_id: str,
        api_token: str,
        base_url: str = "https://api.cloudflare.com/client/v4",
    ) -> None:
        self._http = http
        self._token = api_token
        self._base = f"{base_url.rstrip('/')}/accounts/{quote(account_id, safe='')}/ai/run/"

    async def run(self, model: str, inputs: dict[str, JsonValue], *, timeout: float) -> bytes | dict[str, Any]:
        secrets = [self._token]
        response = await send(
            self._http, PROVIDER, "POST", self._base + quote(model, safe="@/"),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
            body=json_request(inputs), timeout=timeout, secrets=secrets,
        )
        content_type = (response.header("content-type") or "").split(";")[0].strip().lower()
        data = json_body(response) if content_type == "application/json" or response.status >= 400 else None
        if response.status >= 400 or (isinstance(data, dict) and data.get("success") is False):
            message = redact(_envelope_message(data) or "", secrets)
            if not message:
                classify(PROVIDER, response, _envelope_message, secrets=secrets)  # raises
            retry_after = parse_retry_after(response.header("retry-after"))
            raise classify_ai_error(message, response.status if response.status >= 400 else None, retry_after)
        if content_type == "application/json":
            result = data.get("result") if isinstance(data, dict) else None
            if not isinstance(result, dict):
                raise BadAudioError(f"{PROVIDER} answered with JSON that has no result object")
            return result
        return response.body


class WorkersAiSynthesizer:
    """The ``workers-ai`` provider: aura (binary audio) and melotts (base64 MP3 in JSON)."""

    name = PROVIDER

    def __init__(self, ai: AiPort, *, timeout: float = 60.0) -> None:
        self._ai = ai
        self._timeout = timeout

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        if request.model == MELOTTS:
            inputs: dict[str, JsonValue] = {"prompt": request.text, "lang": request.voice or "en"}
            rate: int | None = 44100
        else:
            encoding, container = _AURA_OUTPUT[request.format]
            inputs = {"text": request.text, "encoding": encoding, "container": container}
            if request.voice:
                inputs["speaker"] = request.voice
            rate = _FIXED_RATES.get(request.format) or request.sample_rate
            if request.format not in _FIXED_RATES and request.sample_rate:
                inputs["sample_rate"] = request.sample_rate
        output = await self._ai.run(request.model, inputs, timeout=min(request.timeout_seconds or self._timeout, self._timeout))
        return result_for(_audio_bytes(output), request, sample_rate=rate)


def _audio_bytes(output: bytes | dict[str, Any]) -> bytes:
    if isinstance(output, (bytes, bytearray, memoryview)):
        return bytes(output)
    audio = output.get("audio") if isinstance(output, dict) else None
    if not isinstance(audio, str):
        raise BadAudioError(f"{PROVIDER} returned no audio field (keys: {sorted(output)[:5] if isinstance(output, dict) else type(output).__name__})")
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadAudioError(f"{PROVIDER} returned audio that is not valid base64") from exc
