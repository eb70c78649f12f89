"""Exact silence around a provider's audio: how pauses are made on every model.

``pad(kind, audio, lead_ms, trail_ms)`` returns the audio with silence
before and after it, in the audio's own format and rate:

- WAV and raw PCM: ``round(ms * rate / 1000)`` zero samples, so a pause is
  sample-exact (2 s at 24 kHz is exactly 48,000 samples); the WAV gets one
  new header for the longer length;
- MP3: whole silent frames (a frame's header with no main data: every
  decoder plays it as silence), as many as come nearest to the length, so a
  pause is exact to within one frame (1152 samples at 44.1/48 kHz, 576 at
  24 kHz and below); the provider's Xing/Info frame is dropped, since its
  frame count would describe the speech alone.

Other formats (Opus, AAC, FLAC) cannot be padded without re-encoding:
``PadError`` (the API refuses pauses in them before a job is made).
"""

from __future__ import annotations

from shared.audio.kinds import AudioKind
from shared.audio.mp3 import parse_mp3
from shared.audio.wav import parse_wav, wav_header

__all__ = ["PADDABLE_FORMATS", "PadError", "lead_seconds", "pad", "silence_samples"]

PADDABLE_FORMATS = ("wav", "pcm", "mp3")


class PadError(ValueError):
    """Raised for audio whose format silence cannot be added to."""


def silence_samples(ms: int, sample_rate: int) -> int:
    """Samples of ``ms`` milliseconds at ``sample_rate``, rounded to the nearest sample."""
    return (ms * sample_rate + 500) // 1000


def lead_seconds(kind: AudioKind, audio: bytes, ms: int) -> float:
    """How long ``pad`` makes ``ms`` of silence before ``audio``, exactly (whole samples, or whole MP3 frames)."""
    if not ms:
        return 0.0
    if kind.format == "wav":
        rate = parse_wav(audio).sample_rate
        return silence_samples(ms, rate) / rate
    if kind.format == "mp3":
        first = parse_mp3(audio).frames[0]
        return _frame_count(ms, first.sample_rate, first.samples) * first.samples / first.sample_rate
    rate = kind.sample_rate or 1
    return silence_samples(ms, rate) / rate


def _frame_count(ms: int, sample_rate: int, samples: int) -> int:
    return (ms * sample_rate + 500 * samples) // (1000 * samples)


def pad(kind: AudioKind, audio: bytes, lead_ms: int, trail_ms: int) -> bytes:
    """``audio`` with ``lead_ms`` of silence before it and ``trail_ms`` after (see the module doc)."""
    if not lead_ms and not trail_ms:
        return audio
    if kind.format == "wav":
        info = parse_wav(audio)
        frame = info.frame_size
        before = bytes(silence_samples(lead_ms, info.sample_rate) * frame)
        after = bytes(silence_samples(trail_ms, info.sample_rate) * frame)
        pcm = memoryview(audio)[info.pcm_offset : info.pcm_offset + info.pcm_length]
        length = len(before) + info.pcm_length + len(after)
        return b"".join(
            (wav_header(length, info.sample_rate, info.channels, info.sample_width), before, pcm, after)
        )
    if kind.format == "pcm":
        if not kind.sample_rate:
            raise PadError("raw PCM without a known sample rate cannot be padded")
        before = bytes(silence_samples(lead_ms, kind.sample_rate) * 2)
        after = bytes(silence_samples(trail_ms, kind.sample_rate) * 2)
        return b"".join((before, audio, after))
    if kind.format == "mp3":
        return _pad_mp3(audio, lead_ms, trail_ms)
    raise PadError(f"silence cannot be added to {kind.format} audio; use one of {', '.join(PADDABLE_FORMATS)}")


def _pad_mp3(audio: bytes, lead_ms: int, trail_ms: int) -> bytes:
    info = parse_mp3(audio)
    first = info.frames[0]
    head = bytearray(audio[first.offset : first.offset + 4])
    head[1] |= 0x01  # no CRC
    head[2] &= 0xFD  # no padding byte: every silent frame the same length
    length = _frame_length(first.version, first.layer, first.bitrate, first.sample_rate)
    silent = bytes(head) + bytes(length - 4)

    def frames(ms: int) -> bytes:
        return silent * _frame_count(ms, first.sample_rate, first.samples)

    view = memoryview(audio)
    parts: list[bytes | memoryview] = []
    if info.id3v2 is not None:
        offset, size = info.id3v2
        parts.append(view[offset : offset + size])
    last = info.frames[-1]
    parts += [frames(lead_ms), view[first.offset : last.offset + last.length], frames(trail_ms)]
    return b"".join(parts)


def _frame_length(version: float, layer: int, bitrate: int, sample_rate: int) -> int:
    if layer == 1:
        return (12 * bitrate // sample_rate) * 4
    if layer == 2 or version == 1.0:
        return 144 * bitrate // sample_rate
    return 72 * bitrate // sample_rate
