"""``EspeakSynthesizer``: real (robotic) speech from eSpeak NG, offline.

eSpeak NG comes from the PyPI package ``espeakng-loader``, which ships
``libespeak-ng.so`` and its ``espeak-ng-data``; we drive the C API through
``ctypes``: ``espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, ...)`` with a synth
callback collecting the 16-bit mono samples, ``espeak_SetVoiceByName``,
``espeak_Synth``. Output is at the library's own rate (22050 Hz).

Phonemes (``request.phonemes``, from SSML ``<phoneme>`` and lexicon rules:
shared/text/render.py) are spoken with eSpeak's phoneme input: each span of
the text is replaced by ``[[mnemonics]]`` and ``espeakPHONEMES`` is set (a
literal ``[[`` elsewhere in such a request is written ``[ [``, so it is not
read as phonemes); word events are mapped back to the request's text.

Speed (``request.speed``, an SSML ``<prosody rate>`` included) is eSpeak's
own speaking rate, with a word gap below its slowest rate (``rate_for``).

Word timings (a request with ``timestamps``): the callback also receives
eSpeak's events; each ``espeakEVENT_WORD`` carries ``text_position`` (1-based,
in characters of the UTF-8 text) and ``length``, and ``sample``, the index of
the word's first sample in this synthesis' output: sample-exact starts. Ends
are measured on the samples (``shared.words.ends_from_starts``).

This module imports only the stdlib at import time: ``ctypes`` and
``espeakng_loader`` are imported on first use, so it imports fine in Pyodide,
where ``EspeakSynthesizer.available()`` is simply ``False``.

eSpeak keeps process-global state and is not thread-safe: one lock (module
level, shared by every instance) serializes initialization, voice selection
and synthesis. The async ``synthesize`` hands the blocking work (synthesis,
the WAV header, word ends measured on the samples) to the runtime's
``Offload``: the local runtime's thread pool, where the C library runs
without the GIL, so the event loop goes on serving on the other core.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.words import ends_from_starts
from shared.ports import Offload, SynthesisRequest, SynthesisResult, run_inline
from shared.synthesis.errors import UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.formats import extension_for, mime_type_for
from shared.audio.wav import wav_bytes

# espeak_AUDIO_OUTPUT
_AUDIO_OUTPUT_SYNCHRONOUS = 2
# espeak_Initialize options: without DONT_EXIT the library calls exit() on a data error.
_INITIALIZE_DONT_EXIT = 0x8000
# espeak_Synth flags / position type
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PHONEMES = 0x100  # espeakPHONEMES: [[...]] in the text is phoneme mnemonics
_POS_CHARACTER = 1
# espeak_ERROR
_EE_OK = 0
_EE_BUFFER_FULL = 1
_EE_NOT_FOUND = 2
# Audio handed to the synth callback at a time. The library's default (0) makes a callback about
# every 60 ms of speech, 26 for a 1.5 s sentence, each of them re-taking the GIL (from a busy event
# loop when synthesis runs in a thread); a second's worth makes it 2-3.
_BUFFER_MS = 1000
# espeak_EVENT_TYPE
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
# espeak_PARAMETER: the speaking rate (words per minute) and the pause between words (units of 10 ms)
_RATE = 1
_WORDGAP = 7
DEFAULT_WPM = 175  # espeakRATE_NORMAL
MIN_WPM = 80  # espeakRATE_MINIMUM: eSpeak clamps slower rates to this
WORDGAP_MS_AT_MIN = 36  # measured: one unit of espeakWORDGAP at 80 wpm (docs/benchmarks.md)


def rate_for(speed: float | None) -> tuple[int, int]:
    """(words per minute, word gap in 10 ms units) that speak ``speed`` times as fast as eSpeak's normal rate.

    eSpeak's rate goes up without a practical limit (past 450 it speeds up
    with its own time-stretcher, sonic) but not below 80 wpm (0.46x). Slower
    than that, the rate stays at 80 and each word is followed by a pause: the
    time a word takes at ``speed`` less what it takes at 80 wpm, on the
    average word (60 s / 175 per word at 1.0), in eSpeak's unit of word gap,
    which at 80 wpm measures about 36 ms (``WORDGAP_MS_AT_MIN``; eSpeak's
    documentation says 10 ms at the normal rate, and it stretches with the
    speech and the pause eSpeak already makes).
    """
    speed = speed or 1.0
    wpm = round(DEFAULT_WPM * speed)
    if wpm >= MIN_WPM:
        return wpm, 0
    extra_ms = 60_000 / (DEFAULT_WPM * speed) - 60_000 / MIN_WPM
    return MIN_WPM, max(0, round(extra_ms / WORDGAP_MS_AT_MIN))

_LOCK = threading.Lock()  # guards _STATE and every call into the library


class _State:
    """The process-wide library handle (one per process, like eSpeak's own state)."""

    lib: Any = None
    sample_rate: int = 0
    callback: Any = None  # the ctypes callback object; must stay referenced
    sink: list[bytes] | None = None  # where the callback puts samples during one synthesis
    sink_bytes: int = 0
    sink_limit: int = 0
    words: list[tuple[int, int, int]] | None = None  # (sample, char start, length) per word event, when asked
    error: str | None = None  # why loading failed, once it has


_STATE = _State()


def _load_locked() -> Any:
    """Load and initialize the library once; the caller holds ``_LOCK``."""
    if _STATE.lib is not None:
        return _STATE.lib
    if _STATE.error is not None:
        raise PermanentSynthesisError(_STATE.error)
    try:
        import ctypes

        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path()
    except (ImportError, OSError, RuntimeError, AttributeError) as exc:
        _STATE.error = f"eSpeak NG is not available on this runtime: {exc}"
        raise PermanentSynthesisError(_STATE.error) from exc

    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,  # text
        ctypes.c_size_t,  # size (bytes, terminator included)
        ctypes.c_uint,  # position
        ctypes.c_int,  # position_type
        ctypes.c_uint,  # end_position
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique_identifier
        ctypes.c_void_p,  # user_data
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synchronize.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int

    class Event(ctypes.Structure):  # espeak_EVENT (speak_lib.h)
        _fields_ = [
            ("type", ctypes.c_int),
            ("unique_identifier", ctypes.c_uint),
            ("text_position", ctypes.c_int),
            ("length", ctypes.c_int),
            ("audio_position", ctypes.c_int),
            ("sample", ctypes.c_int),
            ("user_data", ctypes.c_void_p),
            ("id", ctypes.c_char * 8),
        ]

    callback_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(Event))
    string_at = ctypes.string_at

    def on_samples(wav: Any, count: int, events: Any) -> int:
        sink = _STATE.sink
        if sink is None:
            return 1  # nobody is listening: abort
        words = _STATE.words
        if words is not None and events:
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                event = events[i]
                if event.type == _EVENT_WORD:
                    words.append((event.sample, event.text_position - 1, event.length))
                i += 1
        if count > 0 and wav:
            chunk = string_at(wav, count * 2)
            _STATE.sink_bytes += len(chunk)
            if _STATE.sink_limit and _STATE.sink_bytes > _STATE.sink_limit:
                return 1  # abort: more audio than the caller allowed
            sink.append(chunk)
        return 0

    callback = callback_type(on_samples)
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path.encode(), _INITIALIZE_DONT_EXIT)
    if rate <= 0:
        _STATE.error = f"espeak_Initialize failed ({rate}) with data at {data_path}"
        raise PermanentSynthesisError(_STATE.error)
    lib.espeak_SetSynthCallback(callback)
    _STATE.lib, _STATE.callback, _STATE.sample_rate = lib, callback, rate
    return lib


class EspeakSynthesizer:
    """eSpeak NG speech: model ``espeak``; formats ``wav`` and ``pcm`` (s16le mono, 22050 Hz)."""

    name = "espeak"
    MODEL_ID = "espeak"
    # Our voice ids -> eSpeak voice names. eSpeak's "en" *is* British English
    # (its voice file declares en-gb); "en-gb" is not a name it looks up.
    VOICES: dict[str, str] = {
        "en": "en",
        "en-gb": "en",
        "en-us": "en-us",
        "de": "de",
        "fr": "fr",
        "es": "es",
        "it": "it",
    }
    DEFAULT_VOICE = "en-us"
    # Our voice ids -> their language (BCP 47): what GET /v1/audio/voices says.
    LANGUAGES: dict[str, str] = {
        "en": "en-GB", "en-gb": "en-GB", "en-us": "en-US", "de": "de", "fr": "fr", "es": "es", "it": "it",
    }
    FORMATS: tuple[str, ...] = ("wav", "pcm")
    DEFAULT_FORMAT = "wav"
    SAMPLE_RATE = 22050  # what libespeak-ng reports; checked against the library at run time
    SAMPLE_RATES: tuple[int, ...] = (SAMPLE_RATE,)
    DEFAULT_SAMPLE_RATE = SAMPLE_RATE

    def __init__(
        self, *, max_chars: int = 20_000, max_audio_bytes: int = 200 * 1024 * 1024, offload: Offload = run_inline
    ) -> None:
        self.max_chars = max_chars
        self.max_audio_bytes = max_audio_bytes
        self._offload = offload

    @staticmethod
    def available() -> bool:
        """True when the library and its data load here (never on Pyodide). Loads it once."""
        try:
            with _LOCK:
                _load_locked()
        except PermanentSynthesisError:
            return False
        return True

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        voice = request.voice or self.DEFAULT_VOICE
        if voice not in self.VOICES:
            raise UnknownVoiceError(voice, self.MODEL_ID, self.VOICES)
        fmt = request.format or self.DEFAULT_FORMAT
        if fmt not in self.FORMATS:
            raise UnsupportedFormatError(fmt, self.MODEL_ID, self.FORMATS)
        if request.sample_rate not in (None, self.SAMPLE_RATE):
            raise UnsupportedSampleRateError(request.sample_rate, self.MODEL_ID, self.SAMPLE_RATES)
        text = request.text
        if not text or not text.strip():
            raise PermanentSynthesisError("text is empty")
        if len(text) > self.max_chars:
            raise PermanentSynthesisError(f"text of {len(text)} characters exceeds {self.max_chars}")
        spoken, where = with_phonemes(text, request.phonemes)
        try:
            encoded = spoken.replace("\x00", " ").encode("utf-8")
        except UnicodeEncodeError as exc:  # lone surrogates
            raise PermanentSynthesisError(f"text is not valid Unicode: {exc}") from exc

        flags = _PHONEMES if request.phonemes else 0
        return await self._offload(
            self._render, encoded, self.VOICES[voice], fmt, len(text), request.timestamps, request.speed, flags, where
        )

    def _render(
        self, text_utf8: bytes, espeak_voice: str, fmt: str, characters: int, timestamps: bool, speed: float | None,
        flags: int = 0, where: Callable[[int, int], tuple[int, int]] | None = None,
    ) -> SynthesisResult:
        """Blocking: the whole result, audio and word timings, for ``synthesize``.

        ``where`` maps eSpeak's (start, length) in the spoken text back to the request's text.
        """
        starts: list[tuple[int, int, int]] | None = [] if timestamps else None
        pcm, rate = self.synthesize_pcm_blocking(text_utf8, espeak_voice, starts, flags, speed=speed)
        words = None
        if starts is not None:
            located = [(sample, *where(start, length)) for sample, start, length in starts] if where else starts
            words = tuple(ends_from_starts(located, pcm, rate))
        return SynthesisResult(
            audio=wav_bytes(pcm, rate) if fmt == "wav" else pcm,
            mime_type=mime_type_for(fmt, sample_rate=rate),
            extension=extension_for(fmt),
            sample_rate=rate,
            characters=characters,
            words=words,
        )

    def synthesize_pcm_blocking(
        self,
        text_utf8: bytes,
        espeak_voice: str,
        words: list[tuple[int, int, int]] | None = None,
        flags: int = 0,
        *,
        speed: float | None = None,
    ) -> tuple[bytes, int]:
        """Blocking: speak UTF-8 text with an eSpeak voice name; returns (s16le PCM, sample rate).

        With ``words``, appends ``(sample, char start, length)`` for each word eSpeak speaks;
        ``flags`` are added to ``espeak_Synth``'s (``_PHONEMES``: ``[[...]]`` is phoneme input);
        ``speed`` (1.0: normal) goes to eSpeak's own rate (``rate_for``)."""
        wpm, gap = rate_for(speed)
        with _LOCK:
            lib = _load_locked()
            status = lib.espeak_SetVoiceByName(espeak_voice.encode("ascii"))
            if status == _EE_NOT_FOUND:
                raise PermanentSynthesisError(f"eSpeak has no voice {espeak_voice!r}")
            if status != _EE_OK:
                raise TransientSynthesisError(f"espeak_SetVoiceByName({espeak_voice!r}) failed ({status})")
            # Process-wide settings: set on every call, as every call's voice is.
            lib.espeak_SetParameter(_RATE, wpm, 0)
            lib.espeak_SetParameter(_WORDGAP, gap, 0)
            sink: list[bytes] = []
            _STATE.sink, _STATE.sink_bytes, _STATE.sink_limit = sink, 0, self.max_audio_bytes
            _STATE.words = words
            try:
                buffer = text_utf8 + b"\x00"
                status = lib.espeak_Synth(
                    buffer, len(buffer), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE | flags, None, None
                )
                lib.espeak_Synchronize()
                over_limit = _STATE.sink_bytes > self.max_audio_bytes
            finally:
                _STATE.sink = None
                _STATE.words = None
            rate = _STATE.sample_rate
        if over_limit:
            raise PermanentSynthesisError(f"eSpeak produced more than {self.max_audio_bytes} bytes of audio")
        if status == _EE_BUFFER_FULL:
            raise TransientSynthesisError("eSpeak buffer full", retry_after=1.0)
        if status != _EE_OK:
            raise TransientSynthesisError(f"espeak_Synth failed ({status})")
        return b"".join(sink), rate


def with_phonemes(
    text: str, phonemes: tuple[tuple[int, int, str], ...]
) -> tuple[str, Callable[[int, int], tuple[int, int]]]:
    """eSpeak's input for ``text`` with ``phonemes`` spans as ``[[...]]``, and the map of a word event's
    ``(start, length)`` in that input back to ``(start, length)`` in ``text``."""
    if not phonemes:
        return text, lambda start, length: (start, length)
    # (input start, input end, text start, text end, exact): exact pieces map character by character.
    pieces: list[tuple[int, int, int, int, bool]] = []
    out: list[str] = []
    at = 0
    position = 0

    def plain(begin: int, end: int) -> None:
        nonlocal at
        if begin >= end:
            return
        piece = text[begin:end]
        written = piece.replace("[[", "[ [")
        out.append(written)
        pieces.append((at, at + len(written), begin, end, written == piece))
        at += len(written)

    for begin, end, ph in sorted(phonemes):
        plain(position, begin)
        written = f"[[{ph}]]"
        out.append(written)
        pieces.append((at, at + len(written), begin, end, False))
        at += len(written)
        position = max(position, end)
    plain(position, len(text))

    def where(start: int, length: int) -> tuple[int, int]:
        for a, b, c, d, exact in pieces:
            if a <= start < b:
                if not exact:
                    return c, d - c
                return c + start - a, max(0, min(length, b - start))
        return len(text), 0

    return "".join(out), where
