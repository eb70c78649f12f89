"""OpenAI ``POST /v1/audio/speech``, and any server that copies it.

Contract (OpenAI API reference, "Create speech"): JSON body ``model``,
``input`` (at most 4,096 characters), ``voice``, ``response_format`` (mp3,
opus, aac, flac, wav, pcm), ``speed`` (0.25-4.0) and ``instructions`` (not for
``tts-1``/``tts-1-hd``); ``Authorization: Bearer <key>``. A 200 carries the
audio bytes; ``pcm`` is raw 24 kHz 16-bit little-endian mono. Errors are
``{"error": {"message", "type", "param", "code"}}``.

Self-hosted servers that copy the API take the same names, so
``OPENAI_BASE_URL`` pointing at one (with or without ``OPENAI_API_KEY``)
offers the same models.
"""

from __future__ import annotations

from typing import Any

from shared.ports import HttpClient, SynthesisRequest, SynthesisResult
from shared.synthesis.catalogue import ModelSpec
from shared.synthesis.providers.base import classify, first_str, json_request, result_for, send

PROVIDER = "openai"
PREFIX = "openai/"
SAMPLE_RATE = 24_000
FORMATS = ["mp3", "opus", "aac", "flac", "wav", "pcm"]
CLASSIC_VOICES = ["alloy", "ash", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer"]
ALL_VOICES = ["alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar"]


def openai_specs() -> list[ModelSpec]:
    def spec(model: str, voices: list[str], max_chars: int, instructions: bool, description: str) -> ModelSpec:
        return ModelSpec(
            id=PREFIX + model,
            provider=PROVIDER,
            voices=voices,
            default_voice="alloy",
            formats=FORMATS,
            default_format="mp3",
            sample_rates=[SAMPLE_RATE],
            default_sample_rate=SAMPLE_RATE,
            max_input_chars=max_chars,
            chars_per_second=30,  # declared speed: about 2x real time: a conservative bound of tts-1 and gpt-4o-mini-tts
            speed_range=[0.25, 4.0],
            supports_instructions=instructions,
            description=description,
        )

    return [
        spec("tts-1", CLASSIC_VOICES, 4096, False, "OpenAI TTS, optimized for speed; $15 per 1M characters."),
        spec("tts-1-hd", CLASSIC_VOICES, 4096, False, "OpenAI TTS, optimized for quality; $30 per 1M characters."),
        # At most 2,000 input tokens: 2,000 characters keeps any script under it.
        spec("gpt-4o-mini-tts", ALL_VOICES, 2000, True, "OpenAI GPT-4o mini TTS; takes delivery instructions."),
    ]


def _message(data: Any) -> str | None:
    return first_str(data, ("error", "message"), ("error",), ("message",), ("detail",))


class OpenAISpeechSynthesizer:
    """The ``openai`` provider: catalogue ids ``openai/<model>`` map to ``<model>`` upstream."""

    name = PROVIDER

    def __init__(self, http: HttpClient, *, base_url: str, api_key: str | None, timeout: float = 60.0) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/audio/speech"
        self._key = api_key
        self._timeout = timeout

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        model = request.model.removeprefix(PREFIX)
        payload: dict[str, Any] = {
            "model": model,
            "input": request.text,
            "voice": request.voice or "alloy",
            "response_format": request.format,
        }
        if request.speed is not None:
            payload["speed"] = request.speed
        if request.instructions:
            payload["instructions"] = request.instructions
        headers = {"Content-Type": "application/json", "Accept": "*/*"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        response = await send(
            self._http, PROVIDER, "POST", self._url,
            headers=headers, body=json_request(payload), timeout=min(request.timeout_seconds or self._timeout, self._timeout), secrets=[self._key],
        )
        classify(PROVIDER, response, _message, secrets=[self._key])
        return result_for(response.body, request, sample_rate=SAMPLE_RATE)
