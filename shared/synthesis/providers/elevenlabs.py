"""ElevenLabs ``POST /v1/text-to-speech/{voice_id}``.

Contract (ElevenLabs API reference, "Create speech"): header ``xi-api-key``;
query ``output_format`` as ``codec_samplerate[_bitrate]`` (``mp3_44100_128``,
``pcm_24000``, ``opus_48000_128`` ...); JSON body ``text``, ``model_id`` and
``voice_settings`` (``speed`` 0.7-1.2). A 200 carries the audio bytes;
``pcm_*`` is raw 16-bit little-endian mono, which we wrap as WAV for ``wav``.
Errors are ``{"detail": {"status", "message"}}`` (400/401/429) or FastAPI's
``{"detail": [{"loc", "msg", "type"}]}`` (422). Characters per request:
10,000 (Multilingual v2), 40,000 (Flash/Turbo v2.5), 5,000 (v3).

Word timings (a request with ``timestamps``): ``POST
/v1/text-to-speech/{voice_id}/with-timestamps`` with the same query and body
answers JSON ``{"audio_base64", "alignment": {"characters",
"character_start_times_seconds", "character_end_times_seconds"}}``; the
characters are those of the text sent, so word timings are exact
(``shared.words.words_from_characters``).

Voices: the premade voices by name (mapped to their ids), plus any voice ids
listed in ``ELEVENLABS_VOICE_IDS`` (cloned or library voices), used as is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from shared.words import WordTiming, words_from_characters
from shared.ports import HttpClient, HttpClientResponse, SynthesisRequest, SynthesisResult
from shared.synthesis.catalogue import ModelSpec
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.base import classify, first_str, json_body, json_request, result_for, send, wrap_pcm

PROVIDER = "elevenlabs"
PREFIX = "elevenlabs/"
PREMADE_VOICES = {
    "george": "JBFqnCBsd6RMkjVDRZzb",
    "rachel": "21m00Tcm4TlvDq8ikWAM",
    "sarah": "EXAVITQu4vr4xnSDxMaL",
    "aria": "9BWtsMINqrJLrRacOk9x",
    "roger": "CwhRBWXzGAHq8TQ4Fs17",
    "laura": "FGY2WhTYpPnrIDTdsKH5",
    "charlie": "IKne3meq5aSn9XLyUdCD",
    "callum": "N2lVS1w4EtoT3dr4eOWO",
    "river": "SAz9YHcvj6GT2YYXdXww",
    "liam": "TX3LPaxmHKxFdv7VYOoU",
    "charlotte": "XB0fDUnXU5powFXDhCwa",
    "alice": "Xb7hH8MSUJpSbSDYk0k2",
    "matilda": "XrExE9yKIg1WjnnlVkGX",
    "will": "bIHbv24MWmeRgasZH58o",
    "jessica": "cgSgspJ2msm6clMCkdW9",
    "eric": "cjVigY5qzO86Huf0OWal",
    "chris": "iP95p4xoKVk53GoZ742B",
    "brian": "nPczCjzI2devNBz1zQrb",
    "daniel": "onwK4e9ZLuTAKqWW03F9",
    "lily": "pFZP5JQG7iQjIQuC4Bku",
    "bill": "pqHfZKP75CvOlQylNhV4",
}
PCM_RATES = [8000, 16000, 22050, 24000, 44100, 48000]
MP3_RATES = [22050, 44100]
# (format, rate) -> output_format; the 44.1 kHz MP3 at 128 kbit/s is the API's default.
_OUTPUT_FORMATS: dict[tuple[str, int], str] = {
    ("mp3", 22050): "mp3_22050_32",
    ("mp3", 44100): "mp3_44100_128",
    ("opus", 48000): "opus_48000_128",
    **{("pcm", r): f"pcm_{r}" for r in PCM_RATES},
    **{("wav", r): f"pcm_{r}" for r in PCM_RATES},
}


def elevenlabs_specs(extra_voice_ids: Sequence[str] = ()) -> list[ModelSpec]:
    voices = list(PREMADE_VOICES) + [v for v in extra_voice_ids if v not in PREMADE_VOICES]

    def spec(model: str, max_chars: int, description: str) -> ModelSpec:
        return ModelSpec(
            id=PREFIX + model,
            provider=PROVIDER,
            voices=voices,
            default_voice="george",
            formats=["mp3", "wav", "pcm", "opus"],
            default_format="mp3",
            sample_rates=sorted(set(PCM_RATES) | {48000}),
            default_sample_rate=44100,
            format_sample_rates={"mp3": MP3_RATES, "wav": PCM_RATES, "pcm": PCM_RATES, "opus": [48000]},
            max_input_chars=max_chars,
            chars_per_second=30,  # declared speed: about 2x real time
            speed_range=[0.7, 1.2],
            description=description,
            timestamps="exact",
            timestamps_method="ElevenLabs with-timestamps: per-character start and end times",
        )

    return [
        spec("eleven_multilingual_v2", 10_000, "ElevenLabs Multilingual v2: lifelike, 29 languages."),
        spec("eleven_flash_v2_5", 40_000, "ElevenLabs Flash v2.5: lowest latency, half the price per character."),
        spec("eleven_turbo_v2_5", 40_000, "ElevenLabs Turbo v2.5: quality and latency balanced."),
        spec("eleven_v3", 5_000, "ElevenLabs v3: most expressive, 70+ languages."),
    ]


def _message(data: Any) -> str | None:
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, list):
        parts = []
        for item in detail[:3]:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return "; ".join(parts) or None
    message = first_str(data, ("detail", "message"), ("detail",), ("message",), ("error", "message"))
    status = first_str(data, ("detail", "status"))
    if message and status and status not in message:
        return f"{status}: {message}"
    return message


class ElevenLabsSynthesizer:
    """The ``elevenlabs`` provider: catalogue ids ``elevenlabs/<model_id>``."""

    name = PROVIDER

    def __init__(self, http: HttpClient, *, api_key: str, base_url: str = "https://api.elevenlabs.io", timeout: float = 60.0) -> None:
        self._http = http
        self._key = api_key
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        voice = request.voice or "george"
        voice_id = PREMADE_VOICES.get(voice, voice)
        rate = request.sample_rate or (48000 if request.format == "opus" else 44100)
        output_format = _OUTPUT_FORMATS.get((request.format, rate)) or f"{request.format}_{rate}"
        payload: dict[str, Any] = {"text": request.text, "model_id": request.model.removeprefix(PREFIX)}
        if request.speed is not None:
            payload["voice_settings"] = {"speed": request.speed}
        path = f"/v1/text-to-speech/{quote(voice_id, safe='')}" + ("/with-timestamps" if request.timestamps else "")
        url = f"{self._base}{path}?output_format={output_format}"
        accept = "application/json" if request.timestamps else "audio/*"
        response = await send(
            self._http, PROVIDER, "POST", url,
            headers={"xi-api-key": self._key, "Content-Type": "application/json", "Accept": accept},
            body=json_request(payload), timeout=min(request.timeout_seconds or self._timeout, self._timeout), secrets=[self._key],
        )
        classify(PROVIDER, response, _message, secrets=[self._key])
        audio, words = (_with_timestamps(response, request.text) if request.timestamps else (response.body, None))
        if output_format.startswith("pcm_"):
            result = wrap_pcm(audio, request, rate)
        else:
            result = result_for(audio, request, sample_rate=rate)
        return replace(result, words=words) if words is not None else result


def _with_timestamps(response: HttpClientResponse, text: str) -> tuple[bytes, tuple[WordTiming, ...]]:
    """The audio and word timings of a ``with-timestamps`` answer; ``BadAudioError`` (transient) if malformed."""
    data = json_body(response)
    if not isinstance(data, dict) or not isinstance(data.get("audio_base64"), str):
        raise BadAudioError("ElevenLabs with-timestamps answered without audio_base64")
    try:
        audio = base64.b64decode(data["audio_base64"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadAudioError(f"ElevenLabs audio_base64 is not base64: {exc}") from exc
    alignment = data.get("alignment")
    if not isinstance(alignment, dict):
        raise BadAudioError("ElevenLabs with-timestamps answered without alignment")
    chars = alignment.get("characters")
    starts = alignment.get("character_start_times_seconds")
    ends = alignment.get("character_end_times_seconds")
    if not (isinstance(chars, list) and isinstance(starts, list) and isinstance(ends, list)):
        raise BadAudioError("ElevenLabs alignment lacks characters or their times")
    try:
        words = words_from_characters(text, [str(c) for c in chars], [float(t) for t in starts], [float(t) for t in ends])
    except (TypeError, ValueError) as exc:
        raise BadAudioError(f"ElevenLabs alignment times are not numbers: {exc}") from exc
    return audio, tuple(words)
