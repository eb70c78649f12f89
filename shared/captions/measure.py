"""How long a piece of audio is, exactly, and timings estimated from it.

``audio_samples`` counts the samples of WAV, raw PCM (16-bit mono) and MP3
(frame by frame, as the join copies them), so a chunk's start in the joined
audio is a whole number of samples. Formats whose length is not read here
(Opus, AAC, FLAC) give None: no timings can be estimated for them.

``estimate_words`` is what models without word events get (``timestamps:
"estimated"`` in ``/v1/models``): the audio's duration spread over the words
of its text in proportion to their characters (a word's share is its
length plus one for the space after it). Within a long job each chunk is
estimated on its own, so the error never crosses a chunk boundary.
"""

from __future__ import annotations

from shared.words import WordTiming, text_words
from shared.audio.kinds import AudioKind
from shared.audio.formats import MEASURABLE_FORMATS
from shared.audio.mp3 import parse_mp3
from shared.audio.wav import parse_wav

__all__ = ["ESTIMATED_METHOD", "MEASURABLE_FORMATS", "audio_samples", "estimate_words"]

ESTIMATED_METHOD = (
    "estimated: each request's measured audio spread over its words in proportion to their length"
    " (wav, pcm and mp3 only)"
)
"""How ``estimate_words`` times words, as ``/v1/models`` and the timings document name it."""


def audio_samples(kind: AudioKind, data: bytes) -> tuple[int, int] | None:
    """(samples per channel, sample rate) of ``data``, or None when its format is not measured here."""
    if kind.format == "wav":
        info = parse_wav(data)
        return info.pcm_length // info.frame_size, info.sample_rate
    if kind.format == "pcm" and kind.sample_rate:
        return len(data) // 2, kind.sample_rate
    if kind.format == "mp3":
        mp3 = parse_mp3(data)
        return mp3.samples, mp3.sample_rate
    return None


def estimate_words(text: str, duration: float) -> list[WordTiming]:
    """Timings for the words of ``text`` spread over ``duration`` seconds by their length."""
    spans = text_words(text)
    weights = [end - start + 1 for start, end in spans]
    total = sum(weights)
    out: list[WordTiming] = []
    elapsed = 0
    for (start, end), weight in zip(spans, weights, strict=True):
        begin = duration * elapsed / total
        elapsed += weight
        # The "+1" share (the space) is the pause after the word; the last word runs to the end.
        finish = duration * (elapsed - 1) / total if elapsed < total else duration
        out.append(WordTiming(begin, max(begin, finish), start, end))
    return out
