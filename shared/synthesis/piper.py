"""Piper neural speech, offline: model ``piper`` on PyPI's ``piper-tts`` (ONNX Runtime).

The voices are Piper's ``.onnx`` + ``.onnx.json`` pairs (``piper_voices``):
the packaged ``en_US-joe-medium`` and any in ``LOCAL_VOICES_DIR``; each voice
id is its file name. Rules:

- **Load once, bounded.** A voice's model is loaded on its first job and
  kept in a process-wide cache of at most ``max_loaded`` voices (least
  recently used goes first; a medium voice is about 150 MB of memory), shared by
  every synthesizer of the process.
- **Off the event loop.** Phonemizing and inference run through the
  runtime's ``Offload`` port (the local runtime's synthesis thread pool;
  ``asyncio.to_thread`` when none is given). A run uses
  ``threads`` ONNX Runtime threads (``LOCAL_VOICE_THREADS``, 1 by default,
  without spinning), and a process runs at most cores / threads at once, so
  the runs of concurrent jobs share the cores instead of fighting for them.
  On a busy 2-core machine one thread a run was faster than two
  (docs/benchmarks.md).
- **Bounded per run.** The text is cut at sentence, then clause boundaries
  into pieces of at most ``PIECE_CHARS`` (``chunking.split_text``), so one
  model run sees a few hundred phonemes (attention memory grows with the
  square of that), never a whole 2,000-character request.
- **Speed** is Piper's ``length_scale`` divided by the request's ``speed``.
- **Formats**: s16le ``pcm`` and ``wav`` at any of ``SAMPLE_RATES`` (the
  voice's own rate, else FFT-resampled); ``mp3`` comes from the encoding
  wrapper (``shared.synthesis.encoding``) where the runtime has an encoder.
- **Word timings** come from the model: the voice is loaded with its
  ``Ceil`` tensor (frames per phoneme id) as an extra output, so each phoneme's
  samples are known. eSpeak's words are matched to the text's clause by
  clause (clauses end at ``, ; : . ! ?``); a clause whose spoken words match
  its written ones one to one is exact; any other clause (numbers, symbols,
  abbreviations eSpeak expands) has its words spread over the clause's exact
  span by length, and the result says ``words_estimated``.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from shared.words import WordTiming, text_words
from shared.errors import PermanentSynthesisError
from shared.ports import Offload, SynthesisRequest, SynthesisResult
from shared.synthesis.catalogue import OFFLINE_INPUT_CHARS, ModelSpec
from shared.text.chunking import split_text
from shared.synthesis.errors import UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.formats import extension_for, mime_type_for
from shared.synthesis.piper_voices import PACKAGED_VOICE, VoiceFiles, find_voices, with_alignment_output
from shared.audio.wav import wav_bytes

__all__ = ["MODEL_ID", "PiperSynthesizer", "piper_available", "piper_spec"]

MODEL_ID = "piper"
PIECE_CHARS = 400
SPEED_RANGE = (0.5, 2.0)
SAMPLE_RATES: tuple[int, ...] = (16000, 22050, 24000, 44100, 48000)
DEFAULT_SAMPLE_RATE = 22050
FORMATS: tuple[str, ...] = ("wav", "pcm")
# Phonemes that are no sound of a word: Piper's pad/start/end ids and eSpeak's punctuation.
_MARKS = frozenset("^$_ ,.;:!?¡¿-—–…\"'«»“”()[]")
_CLAUSE_END = frozenset(",.;:!?")
# Where a written clause ends: punctuation (then closing quotes/brackets) before a space or the end.
_TEXT_CLAUSE = re.compile(r"(?:[,;:!?\u2026]+|\.(?!\s+[a-z]))[,.;:!?\u2026]*[\"'\u201d\u2019\u00bb)\]]*(?=\s|$)")
_SPOKEN = re.compile(r"\w")
_STRESS = frozenset("ˈˌ")

_CACHE_LOCK = threading.Lock()


class _Loaded:
    """The process-wide cache of loaded voices (model path -> PiperVoice), least recently used first,
    and the runs allowed at once."""

    voices: OrderedDict[str, Any] = OrderedDict()
    runs: threading.BoundedSemaphore | None = None


def _runs(threads: int) -> threading.BoundedSemaphore:
    """How many model runs a process lets go at once: cores / threads (one when ONNX Runtime picks)."""
    with _CACHE_LOCK:
        if _Loaded.runs is None:
            cores = os.cpu_count() or 1
            _Loaded.runs = threading.BoundedSemaphore(max(1, cores // threads) if threads > 0 else 1)
        return _Loaded.runs


def piper_available() -> bool:
    """True when ``piper-tts`` and ONNX Runtime are installed here (never on Pyodide).

    Looked up without importing them: the api and reaper processes list the
    model but never load it, and ONNX Runtime's native library is tens of MB."""
    from importlib.util import find_spec

    try:
        return find_spec("piper") is not None and find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def _load(files: VoiceFiles, max_loaded: int, threads: int = 1) -> Any:
    """The voice's ``PiperVoice``, loaded (with its alignment output) on first use."""
    key = str(files.model)
    with _CACHE_LOCK:
        voice = _Loaded.voices.get(key)
        if voice is not None:
            _Loaded.voices.move_to_end(key)
            return voice
        import json

        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        try:
            model, _ = with_alignment_output(files.model.read_bytes())
            options = onnxruntime.SessionOptions()
            if threads > 0:
                options.intra_op_num_threads = threads
            # Idle pool threads sleep instead of spinning: the cores are shared with the other Workers.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
            del model
            config = PiperConfig.from_dict(json.loads(files.config.read_text(encoding="utf-8")))
        except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own types for a bad model
            # A broken voice file stays broken: fail the job, do not retry it.
            raise PermanentSynthesisError(f"Piper voice {files.name!r} could not be loaded: {exc}"[:500]) from exc
        voice = PiperVoice(session=session, config=config)
        _Loaded.voices[key] = voice
        while len(_Loaded.voices) > max(1, max_loaded):
            _Loaded.voices.popitem(last=False)
        return voice


class Spoken(NamedTuple):
    """A word the model spoke: ``[start, end)`` in samples, and how many phonemes it had."""

    start: int
    end: int
    phonemes: int


@dataclass
class _Piece:
    """One model run's output: its audio (float, native rate) and, per clause, the spoken words' sample spans."""

    audio: list[Any]
    clauses: list[list[Spoken]]


class PiperSynthesizer:
    """Model ``piper``: Piper voices, ``wav`` and ``pcm`` (s16le mono) at ``SAMPLE_RATES``."""

    name = "piper"
    MODEL_ID = MODEL_ID
    FORMATS = FORMATS
    DEFAULT_FORMAT = "wav"
    SAMPLE_RATES = SAMPLE_RATES
    DEFAULT_SAMPLE_RATE = DEFAULT_SAMPLE_RATE

    def __init__(
        self,
        voices: dict[str, VoiceFiles],
        *,
        max_loaded: int = 2,
        threads: int = 1,
        max_chars: int = 20_000,
        max_audio_bytes: int = 200 * 1024 * 1024,
        offload: Offload | None = None,
    ) -> None:
        if not voices:
            raise ValueError("PiperSynthesizer needs at least one voice")
        self.voices = dict(voices)
        self.default_voice = PACKAGED_VOICE if PACKAGED_VOICE in self.voices else next(iter(self.voices))
        self.max_loaded = max_loaded
        self.threads = threads
        self.max_chars = max_chars
        self.max_audio_bytes = max_audio_bytes
        self._offload: Offload = offload or asyncio.to_thread

    @classmethod
    def from_folder(cls, folder: str | None, **kwargs: Any) -> PiperSynthesizer | None:
        """The packaged voice plus ``folder``'s; None when Piper is not installed or no voice is found."""
        if not piper_available():
            return None
        voices = find_voices(folder)
        return cls(voices, **kwargs) if voices else None

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        voice = request.voice or self.default_voice
        if voice not in self.voices:
            raise UnknownVoiceError(voice, MODEL_ID, list(self.voices))
        fmt = request.format or self.DEFAULT_FORMAT
        if fmt not in FORMATS:
            raise UnsupportedFormatError(fmt, MODEL_ID, FORMATS)
        rate = request.sample_rate or DEFAULT_SAMPLE_RATE
        if rate not in SAMPLE_RATES:
            raise UnsupportedSampleRateError(rate, MODEL_ID, SAMPLE_RATES)
        speed = request.speed or 1.0
        if not SPEED_RANGE[0] <= speed <= SPEED_RANGE[1]:
            raise PermanentSynthesisError(f"speed {speed:g} is outside {SPEED_RANGE[0]:g}..{SPEED_RANGE[1]:g}")
        text = request.text
        if not text or not text.strip():
            raise PermanentSynthesisError("text is empty")
        if len(text) > self.max_chars:
            raise PermanentSynthesisError(f"text of {len(text)} characters exceeds {self.max_chars}")
        pcm, words, estimated = await self._offload(
            self.synthesize_blocking, text, self.voices[voice], speed, rate, request.timestamps
        )
        audio = wav_bytes(pcm, rate) if fmt == "wav" else pcm
        return SynthesisResult(
            audio=audio,
            mime_type=mime_type_for(fmt, sample_rate=rate),
            extension=extension_for(fmt),
            sample_rate=rate,
            characters=len(text),
            words=tuple(words) if words is not None else None,
            words_estimated=estimated,
        )

    def synthesize_blocking(
        self, text: str, files: VoiceFiles, speed: float, rate: int, timestamps: bool
    ) -> tuple[bytes, list[WordTiming] | None, bool]:
        """Blocking: (s16le PCM at ``rate``, word timings or None, whether some were estimated)."""
        import numpy as np

        voice = _load(files, self.max_loaded, self.threads)
        native = voice.config.sample_rate
        out: list[bytes] = []
        words: list[WordTiming] = []
        estimated = False
        samples_before = 0  # at the native rate
        size = 0
        offset = 0
        for piece_text in split_text(text, PIECE_CHARS):
            piece = self._run(voice, piece_text, speed)
            audio = np.concatenate(piece.audio) if piece.audio else np.zeros(0, dtype=np.float32)
            if timestamps:
                piece_words, guessed = match_words(piece_text, offset, piece.clauses, samples_before, native)
                words.extend(piece_words)
                estimated = estimated or guessed
            samples_before += len(audio)
            offset += len(piece_text)
            pcm = to_pcm16(resample(audio, native, rate))
            size += len(pcm)
            if size > self.max_audio_bytes:
                raise PermanentSynthesisError(f"Piper produced more than {self.max_audio_bytes} bytes of audio")
            out.append(pcm)
        return b"".join(out), (words if timestamps else None), estimated

    def _run(self, voice: Any, text: str, speed: float) -> _Piece:
        from piper.config import SynthesisConfig

        config = SynthesisConfig(length_scale=voice.config.length_scale / speed)
        audio: list[Any] = []
        clauses: list[list[Spoken]] = []
        position = 0
        with _runs(self.threads):
            for chunk in voice.synthesize(text, syn_config=config, include_alignments=True):
                audio.append(chunk.audio_float_array)
                clauses.extend(spoken_words(chunk.phoneme_alignments, position))
                position += len(chunk.audio_float_array)
        return _Piece(audio, clauses)


def spoken_words(alignments: Sequence[Any] | None, offset: int) -> list[list[Spoken]]:
    """Per clause of one sentence's phoneme alignments, each spoken word: ``[start, end)`` in samples, phonemes.

    A word is a run of sounding phonemes between spaces or punctuation; a
    clause ends at ``, ; : . ! ?``. Without alignments: no clauses."""
    if not alignments:
        return []
    clauses: list[list[Spoken]] = [[]]
    position = offset
    start: int | None = None
    end = phonemes = 0
    for alignment in alignments:
        phoneme = alignment.phoneme
        length = int(alignment.num_samples)
        if phoneme in _MARKS:
            if start is not None:
                clauses[-1].append(Spoken(start, end, phonemes))
                start = None
            if phoneme in _CLAUSE_END and clauses[-1]:
                clauses.append([])
        else:
            if start is None:
                start, phonemes = position, 0
            end = position + length
            phonemes += phoneme not in _STRESS
        position += length
    if start is not None:
        clauses[-1].append(Spoken(start, end, phonemes))
    return [c for c in clauses if c]


def text_clauses(text: str) -> list[list[tuple[int, int]]]:
    """The written words (``[start, end)``, spoken ones only: with a letter or digit) of each clause of ``text``."""
    ends = [m.end() for m in _TEXT_CLAUSE.finditer(text)]
    clauses: list[list[tuple[int, int]]] = [[]]
    index = 0
    for start, end in text_words(text):
        while index < len(ends) and start >= ends[index]:
            index += 1
            if clauses[-1]:
                clauses.append([])
        if _SPOKEN.search(text, start, end):
            clauses[-1].append((start, end))
    return [c for c in clauses if c]


def match_words(
    text: str, char_offset: int, spoken: list[list[Spoken]], sample_offset: int, rate: int
) -> tuple[list[WordTiming], bool]:
    """The text's words timed from the model's spoken words; (words, whether any were estimated)."""
    written = text_clauses(text)
    if len(written) != len(spoken):  # eSpeak cut the clauses otherwise: the piece as one clause
        written = [[w for c in written for w in c]] if written else []
        spoken = [[w for c in spoken for w in c]] if spoken else []
    out: list[WordTiming] = []
    estimated = False
    for words, sounds in zip(written, spoken, strict=False):
        groups = align_groups(text, words, sounds)
        if groups is None:  # no plausible pairing: the clause's span shared by length
            groups = [(words, sounds)]
        for group_words, group_sounds in groups:
            begin, end = group_sounds[0].start, group_sounds[-1].end
            if len(group_words) > 1:  # words eSpeak ran together ("from the"): split by length
                estimated = True
                spans = spread(group_words, begin, end)
            else:
                spans = [(begin, end)]
            for (char_start, char_end), (first, last) in zip(group_words, spans, strict=True):
                out.append(
                    WordTiming(
                        (sample_offset + first) / rate,
                        (sample_offset + last) / rate,
                        char_offset + char_start,
                        char_offset + char_end,
                    )
                )
    return out, estimated


# (written words, spoken words) a group may pair: one to one, words eSpeak joins, words it expands.
_STEPS = ((1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (1, 3), (1, 4), (1, 5), (1, 6))


def align_groups(
    text: str, words: Sequence[tuple[int, int]], sounds: Sequence[Spoken]
) -> list[tuple[list[tuple[int, int]], list[Spoken]]] | None:
    """Pair a clause's written and spoken words in order, in groups of ``_STEPS``; None when none fits.

    The pairing minimizes, over its groups, how far the written letters and
    the spoken phonemes differ in number (log ratio), one to one preferred."""
    import math

    n, m = len(words), len(sounds)
    letters = [_phonemes_of(text[s:e]) for s, e in words]
    phonemes = [s.phonemes for s in sounds]
    inf = math.inf
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            here = cost[i][j]
            if here == inf:
                continue
            for a, b in _STEPS:
                if i + a > n or j + b > m:
                    continue
                ratio = (sum(letters[i : i + a]) + 1) / (sum(phonemes[j : j + b]) + 1)
                step = abs(math.log(ratio)) + (0.0 if a == b == 1 else 0.5)
                if here + step < cost[i + a][j + b]:
                    cost[i + a][j + b] = here + step
                    back[i + a][j + b] = (a, b)
    if cost[n][m] == inf:
        return None
    groups: list[tuple[list[tuple[int, int]], list[Spoken]]] = []
    i, j = n, m
    while i or j:
        a, b = back[i][j]  # type: ignore[misc]  # set on every cell of the path back: cost[n][m] is finite
        groups.append((list(words[i - a : i]), list(sounds[j - b : j])))
        i, j = i - a, j - b
    groups.reverse()
    return groups


def _phonemes_of(word: str) -> int:
    """About how many phonemes a written word has: one a letter; four a digit or a letter of an
    abbreviation ("e.g.", "U.S."), which are said as words of their own."""
    spelled = "." in word.rstrip(".,;:!?\"')")
    return sum(4 if ch.isdigit() or spelled else 1 for ch in word if ch.isalnum())


def spread(words: Sequence[tuple[int, int]], begin: int, end: int) -> list[tuple[int, int]]:
    """``[begin, end)`` shared among ``words`` by their length in characters."""
    total = sum(e - s for s, e in words) or 1
    out: list[tuple[int, int]] = []
    elapsed = 0
    for s, e in words:
        start = begin + (end - begin) * elapsed // total
        elapsed += e - s
        out.append((start, begin + (end - begin) * elapsed // total))
    return out


def resample(audio: Any, source: int, target: int) -> Any:
    """``audio`` (float, mono) from ``source`` Hz to ``target`` Hz (band-limited, by FFT)."""
    import numpy as np

    if source == target or len(audio) == 0:
        return audio
    count = max(1, round(len(audio) * target / source))
    spectrum = np.fft.rfft(audio)
    bins = count // 2 + 1
    if bins <= len(spectrum):
        spectrum = spectrum[:bins]
    else:
        spectrum = np.concatenate([spectrum, np.zeros(bins - len(spectrum), dtype=spectrum.dtype)])
    return np.fft.irfft(spectrum, count) * (count / len(audio))


def to_pcm16(audio: Any) -> bytes:
    """Float samples in [-1, 1] as s16le bytes."""
    import numpy as np

    clipped = np.clip(np.asarray(audio, dtype=np.float32) * 32767.0, -32767.0, 32767.0)
    return bytes(clipped.astype("<i2").tobytes())  # bytes of bytes: the same object, for the type


def piper_spec(synthesizer: PiperSynthesizer) -> ModelSpec:
    """The catalogue entry of ``synthesizer``'s voices (``mp3`` is added where the runtime encodes it)."""
    default = synthesizer.voices[synthesizer.default_voice]
    return ModelSpec(
        id=MODEL_ID,
        provider=PiperSynthesizer.name,
        voices=list(synthesizer.voices),
        default_voice=synthesizer.default_voice,
        formats=list(FORMATS),
        default_format=PiperSynthesizer.DEFAULT_FORMAT,
        sample_rates=list(SAMPLE_RATES),
        default_sample_rate=default.sample_rate if default.sample_rate in SAMPLE_RATES else DEFAULT_SAMPLE_RATE,
        max_input_chars=OFFLINE_INPUT_CHARS,
        seconds_per_char=0.075,  # en_US-joe-medium reads about 13 characters a second
        # Measured 80 a second on 2 free cores and 19 with the machine's load average at 13
        # (RTF 0.17 and 0.69: docs/benchmarks.md); declared at the slow end.
        chars_per_second=15,
        speed_range=list(SPEED_RANGE),
        description=(
            "Piper neural speech (VITS on ONNX Runtime), offline; local runtime only. Voices: the packaged "
            f"{PACKAGED_VOICE} (CC0 data) and any Piper voice in LOCAL_VOICES_DIR."
        ),
        timestamps="exact",
        timestamps_method=(
            "the model's phoneme durations (its Ceil output): each word's first and last sample; words eSpeak "
            "runs together (\"from the\") share their span by length and the timings say estimated"
        ),
    )
