"""Google Gemini TTS: ``POST /v1beta/models/{model}:generateContent`` with audio output.

Contract (Gemini API, "Speech generation"): header ``x-goog-api-key``; body
``contents[].parts[].text`` and ``generationConfig.responseModalities:
["AUDIO"]`` with ``speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName``.
The audio comes back base64 in ``candidates[0].content.parts[].inlineData``
(``mimeType`` ``audio/L16;codec=pcm;rate=24000``): 16-bit PCM, mono, 24 kHz,
which we wrap as WAV for ``wav``. Errors are ``{"error": {"code", "message",
"status", "details"}}``; a 429 may carry a ``google.rpc.RetryInfo`` detail
whose ``retryDelay`` ("7s") is used when there is no ``Retry-After`` header.
A request takes at most 8,192 input tokens and makes at most 16,384 audio
tokens (25 a second, about 11 minutes), so requests stay at 4,000 characters.

Delivery ``instructions`` are put before the text as the documented prompt
style ("Say cheerfully: ...").
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any
from urllib.parse import quote

from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import HttpClient, SynthesisRequest, SynthesisResult
from shared.audio.kinds import BadAudioError
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.providers.base import classify, first_str, json_body, json_request, send, wrap_pcm

PROVIDER = "gemini"
PREFIX = "gemini/"
SAMPLE_RATE = 24_000
VOICES = [
    "Zephyr", "Puck", "Charon", "Kore", "Fenrir", "Leda", "Orus", "Aoede", "Callirrhoe", "Autonoe",
    "Enceladus", "Iapetus", "Umbriel", "Algieba", "Despina", "Erinome", "Algenib", "Rasalgethi",
    "Laomedeia", "Achernar", "Alnilam", "Schedar", "Gacrux", "Pulcherrima", "Achird",
    "Zubenelgenubi", "Vindemiatrix", "Sadachbia", "Sadaltager", "Sulafat",
]
_RATE = re.compile(r"rate=(\d+)")
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def gemini_specs() -> list[ModelSpec]:
    def spec(model: str, description: str) -> ModelSpec:
        return ModelSpec(
            id=PREFIX + model,
            provider=PROVIDER,
            voices=VOICES,
            default_voice="Kore",
            formats=["wav", "pcm"],
            default_format="wav",
            sample_rates=[SAMPLE_RATE],
            default_sample_rate=SAMPLE_RATE,
            max_input_chars=4000,
            chars_per_second=20,  # declared speed: slower than real time at worst
            supports_instructions=True,
            description=description,
        )

    return [
        spec("gemini-3.8-flash-tts", "Gemini 3.8 Flash TTS: expressive, 130 languages, 30 prebuilt voices."),
        spec("gemini-3.8-flash-lite-tts", "Gemini 3.8 Flash-Lite TTS: cheaper audio, 100+ languages."),
    ]


def _message(data: Any) -> str | None:
    message = first_str(data, ("error", "message"), ("message",))
    status = first_str(data, ("error", "status"))
    if message and status:
        return f"{status}: {message}"
    return message


def _retry_delay(data: Any) -> float | None:
    """``retryDelay`` of a ``google.rpc.RetryInfo`` detail, in seconds."""
    details = data.get("error", {}).get("details") if isinstance(data, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DELAY.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


class GeminiSpeechSynthesizer:
    """The ``gemini`` provider: catalogue ids ``gemini/<model>``."""

    name = PROVIDER

    def __init__(
        self,
        http: HttpClient,
        *,
        api_key: str,
        base_url: str = "https://generativelanguage.googleapis.com/v1beta",
        timeout: float = 120.0,
    ) -> None:
        self._http = http
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        model = request.model.removeprefix(PREFIX)
        prompt = f"{request.instructions.strip()}: {request.text}" if request.instructions else request.text
        payload = {
            "contents": [{"parts": [{"text": prompt}]}],
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": request.voice or "Kore"}}},
            },
        }
        url = f"{self._base}/models/{quote(model, safe='.-_')}:generateContent"
        response = await send(
            self._http, PROVIDER, "POST", url,
            headers={"x-goog-api-key": self._key, "Content-Type": "application/json"},
            body=json_request(payload), timeout=min(request.timeout_seconds or self._timeout, self._timeout), secrets=[self._key],
        )
        try:
            classify(PROVIDER, response, _message, secrets=[self._key])
        except TransientSynthesisError as exc:
            if exc.retry_after is None:
                data = json_body(response)
                exc.retry_after = _retry_delay(data) if data is not None else None
            raise
        data = json_body(response)
        if not isinstance(data, dict):
            raise BadAudioError(f"{PROVIDER} answered HTTP {response.status} with a body that is not JSON")
        pcm, rate = self._audio(data)
        return wrap_pcm(pcm, request, rate, characters=len(prompt))

    def _audio(self, data: dict[str, Any]) -> tuple[bytes, int]:
        block = first_str(data, ("promptFeedback", "blockReason"))
        if block:
            raise PermanentSynthesisError(f"{PROVIDER} refused the text: {block}")
        candidates = data.get("candidates")
        first = candidates[0] if isinstance(candidates, list) and candidates else {}
        parts = (first.get("content") or {}).get("parts") if isinstance(first, dict) else None
        chunks: list[bytes] = []
        rate = SAMPLE_RATE
        for part in parts if isinstance(parts, list) else []:
            inline = part.get("inlineData") if isinstance(part, dict) else None
            if not isinstance(inline, dict) or not isinstance(inline.get("data"), str):
                continue
            match = _RATE.search(str(inline.get("mimeType", "")))
            if match:
                rate = int(match.group(1))
            try:
                chunks.append(base64.b64decode(inline["data"], validate=True))
            except (binascii.Error, ValueError) as exc:
                raise BadAudioError(f"{PROVIDER} returned audio that is not valid base64") from exc
        if not chunks:
            reason = first.get("finishReason") if isinstance(first, dict) else None
            if reason in ("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"):
                raise PermanentSynthesisError(f"{PROVIDER} refused the text: finishReason {reason}")
            raise BadAudioError(f"{PROVIDER} returned no audio (finishReason {reason or 'missing'})")
        return b"".join(chunks), rate
