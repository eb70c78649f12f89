"""``ToneSynthesizer``: a fast, deterministic, offline stand-in for speech.

Each character becomes one fixed-length slot (60 ms by default): a short sine
beep whose pitch depends on the character, with 5 ms linear fades so it
clicks neither in nor out, followed by silence; whitespace is a silent slot.
So the audio's length is exactly ``len(text) * slot`` and grows with the text.
Word timings are therefore exact, computed rather than measured: a word
starts at its first character's slot and ends when its last character's
tone does. ``speed`` (OpenAI's 0.25-4.0) divides the slot, the beep and
its fades alike: at 2.0 a character takes 30 ms.

Speed: a slot's samples are computed once per process per (sample rate,
voice, pitch) and cached as bytes (about 10 ms the first time); synthesis is then a dict lookup per character and a single
``b"".join`` (header included), so megabytes of audio cost milliseconds.

Where it runs: ``synthesize`` hands the rendering to the runtime's
``Offload`` (the local runtime's thread pool; in place in a Worker), so a
long text does not hold up the event loop while its slots are joined.

Determinism: the sine is a polynomial evaluated with IEEE-754 additions and
multiplications only (no libm ``sin``), so the same text gives identical
bytes on CPython and in Pyodide, on every platform.
"""

from __future__ import annotations

import sys
from array import array

from shared.words import WordTiming, text_words
from shared.errors import PermanentSynthesisError
from shared.ports import Offload, SynthesisRequest, SynthesisResult, run_inline
from shared.synthesis.errors import UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.formats import extension_for, mime_type_for
from shared.audio.wav import wav_header

_TWO_PI = 6.283185307179586
# Pentatonic degrees over two octaves around A4 (semitones from 440 Hz).
_SEMITONES = (-12, -10, -8, -5, -3, 0, 2, 4, 7, 9, 12)
_BASE_HZ = 440.0
_AMPLITUDE = 0.3 * 32767

# (char_ms, tone_ms, fade_ms, rate, voice, speed) -> (silent slot, [slot per pitch]). Module level so a
# synthesizer (or catalogue) built per request still reuses the slots; filled lazily, never at import.
_SLOT_CACHE: dict[tuple[int, int, int, int, str, float], tuple[bytes, list[bytes]]] = {}
_SLOT_CACHE_LIMIT = 64  # speeds are many; a full cache is emptied (a slot set costs about 10 ms to make)


def _sin_turns(t: float) -> float:
    """sin(2*pi*t) for t in [0, 1), from + and * only (bit-identical everywhere)."""
    if t >= 0.5:
        t -= 1.0
    if t > 0.25:
        t = 0.5 - t
    elif t < -0.25:
        t = -0.5 - t
    x = t * _TWO_PI  # now |x| <= pi/2: Taylor to x**13 is within 1e-9
    x2 = x * x
    return x * (
        1.0
        - x2 / 6.0 * (1.0 - x2 / 20.0 * (1.0 - x2 / 42.0 * (1.0 - x2 / 72.0 * (1.0 - x2 / 110.0 * (1.0 - x2 / 156.0)))))
    )


def _semitone_ratio(semitones: int) -> float:
    """2 ** (semitones / 12) by repeated multiplication of a fixed constant (no libm pow)."""
    step = 1.0594630943592953  # 2 ** (1/12)
    ratio = 1.0
    for _ in range(abs(semitones)):
        ratio = ratio * step if semitones > 0 else ratio / step
    return ratio


class ToneSynthesizer:
    """Beeps instead of speech: model ``tone``; formats ``wav`` and ``pcm`` (s16le mono)."""

    name = "tone"
    MODEL_ID = "tone"
    VOICES: dict[str, float] = {"default": 1.0, "low": 0.5, "high": 2.0}  # pitch multipliers
    DEFAULT_VOICE = "default"
    FORMATS: tuple[str, ...] = ("wav", "pcm")
    DEFAULT_FORMAT = "wav"
    SAMPLE_RATES: tuple[int, ...] = (8000, 16000, 22050, 24000, 44100)
    DEFAULT_SAMPLE_RATE = 24000
    SAMPLE_WIDTH = 2
    CHANNELS = 1

    def __init__(
        self, *, char_ms: int = 60, tone_ms: int = 45, fade_ms: int = 5, offload: Offload = run_inline
    ) -> None:
        if not 0 < tone_ms <= char_ms or not 0 <= 2 * fade_ms <= tone_ms:
            raise ValueError("need 0 < tone_ms <= char_ms and 2 * fade_ms <= tone_ms")
        self.char_ms = char_ms
        self.tone_ms = tone_ms
        self.fade_ms = fade_ms
        self._offload = offload

    # --- public ---------------------------------------------------------------

    def bytes_per_char(self, sample_rate: int | None = None) -> int:
        """PCM bytes one character produces at ``sample_rate`` (for size estimates)."""
        return self._slot_samples(sample_rate or self.DEFAULT_SAMPLE_RATE) * self.SAMPLE_WIDTH

    def render_pcm(
        self, text: str, *, voice: str | None = None, sample_rate: int | None = None, speed: float | None = None
    ) -> bytes:
        """The raw s16le PCM for ``text`` (no header)."""
        voice, _, rate = self._resolve(voice, "pcm", sample_rate)
        return b"".join(self._pieces(text, voice, rate, speed or 1.0))

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        voice, fmt, rate = self._resolve(request.voice, request.format, request.sample_rate)
        text = request.text
        if not text:
            raise PermanentSynthesisError("text is empty")
        speed = request.speed or 1.0
        return await self._offload(self._render, text, voice, fmt, rate, speed, request.timestamps)

    def _render(self, text: str, voice: str, fmt: str, rate: int, speed: float, timestamps: bool) -> SynthesisResult:
        pieces = self._pieces(text, voice, rate, speed)
        if fmt == "wav":
            pcm_length = len(text) * self._slot_samples(rate, speed) * self.SAMPLE_WIDTH
            pieces.insert(0, wav_header(pcm_length, rate, self.CHANNELS, self.SAMPLE_WIDTH))
        return SynthesisResult(
            audio=b"".join(pieces),
            mime_type=mime_type_for(fmt, sample_rate=rate),
            extension=extension_for(fmt),
            sample_rate=rate,
            characters=len(text),
            words=tuple(self.word_timings(text, rate, speed)) if timestamps else None,
        )

    def word_timings(self, text: str, sample_rate: int, speed: float = 1.0) -> list[WordTiming]:
        """Exact timings: a word starts with its first character's slot and ends with its last one's tone."""
        slot = self._slot_samples(sample_rate, speed)
        tone = self._scaled(sample_rate, self.tone_ms, speed)
        return [
            WordTiming(start * slot / sample_rate, ((end - 1) * slot + tone) / sample_rate, start, end)
            for start, end in text_words(text)
        ]

    # --- internals ------------------------------------------------------------

    def _resolve(self, voice: str | None, fmt: str | None, rate: int | None) -> tuple[str, str, int]:
        voice = voice or self.DEFAULT_VOICE
        if voice not in self.VOICES:
            raise UnknownVoiceError(voice, self.MODEL_ID, self.VOICES)
        fmt = fmt or self.DEFAULT_FORMAT
        if fmt not in self.FORMATS:
            raise UnsupportedFormatError(fmt, self.MODEL_ID, self.FORMATS)
        rate = rate or self.DEFAULT_SAMPLE_RATE
        if rate not in self.SAMPLE_RATES:
            raise UnsupportedSampleRateError(rate, self.MODEL_ID, self.SAMPLE_RATES)
        return voice, fmt, rate

    @staticmethod
    def _scaled(rate: int, ms: int, speed: float) -> int:
        """Samples of ``ms`` milliseconds at ``speed`` (exact integer arithmetic at 1.0)."""
        return rate * ms // 1000 if speed == 1.0 else int(rate * ms / (1000 * speed))

    def _slot_samples(self, rate: int, speed: float = 1.0) -> int:
        return self._scaled(rate, self.char_ms, speed)

    def _pieces(self, text: str, voice: str, rate: int, speed: float = 1.0) -> list[bytes]:
        silent, tones = self._slots_for(rate, voice, speed)
        n = len(tones)
        memo: dict[str, bytes] = {}
        out: list[bytes] = []
        append = out.append
        for ch in text:
            piece = memo.get(ch)
            if piece is None:
                piece = memo[ch] = silent if ch.isspace() else tones[ord(ch) % n]
            append(piece)
        return out

    def _slots_for(self, rate: int, voice: str, speed: float = 1.0) -> tuple[bytes, list[bytes]]:
        key = (self.char_ms, self.tone_ms, self.fade_ms, rate, voice, speed)
        cached = _SLOT_CACHE.get(key)
        if cached is None:
            slot = self._slot_samples(rate, speed)
            silent = bytes(slot * self.SAMPLE_WIDTH)
            multiplier = self.VOICES[voice]
            tones = [
                self._render_slot(rate, _BASE_HZ * _semitone_ratio(s) * multiplier, slot, speed) for s in _SEMITONES
            ]
            if len(_SLOT_CACHE) >= _SLOT_CACHE_LIMIT:
                _SLOT_CACHE.clear()
            cached = _SLOT_CACHE[key] = (silent, tones)
        return cached

    def _render_slot(self, rate: int, hz: float, slot: int, speed: float = 1.0) -> bytes:
        tone = min(slot, self._scaled(rate, self.tone_ms, speed))
        fade = max(1, self._scaled(rate, self.fade_ms, speed))
        step = hz / rate  # turns per sample
        samples = array("h", bytes(slot * 2))
        for i in range(tone):
            phase = step * i
            phase -= int(phase)
            env = 1.0
            if i < fade:
                env = i / fade
            elif i >= tone - fade:
                env = (tone - 1 - i) / fade
            samples[i] = round(_AMPLITUDE * env * _sin_turns(phase))
        if sys.byteorder == "big":
            samples.byteswap()
        return samples.tobytes()
