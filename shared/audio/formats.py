"""Audio formats the pipeline knows: MIME type and file extension of each.

| format | MIME type    | extension | what it is                                   |
| ------ | ------------ | --------- | -------------------------------------------- |
| wav    | audio/wav    | wav       | RIFF/WAVE, integer PCM                       |
| mp3    | audio/mpeg   | mp3       | MPEG-1/2 Layer III                           |
| opus   | audio/ogg    | opus      | Opus in an Ogg container (what APIs return)  |
| ogg    | audio/ogg    | ogg       | Ogg Vorbis/Opus                              |
| flac   | audio/flac   | flac      | FLAC                                         |
| aac    | audio/aac    | aac       | ADTS AAC                                     |
| pcm    | audio/pcm    | pcm       | raw signed 16-bit little-endian, mono        |

Why ``audio/pcm`` for raw PCM: the registered ``audio/L16`` (RFC 2586) is
*big*-endian, and labelling little-endian bytes with it would make a
conforming player play noise. ``audio/pcm`` is unregistered but is what
several TTS APIs use for raw s16le; the rate travels as a parameter when
known (``audio/pcm;rate=24000;channels=1``) and in the job's ``sampleRate``.
"""

from __future__ import annotations

from shared.audio.errors import UnsupportedFormatError

_MIME = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "aac": "audio/aac",
    "pcm": "audio/pcm",
}
_EXTENSION = {fmt: fmt for fmt in _MIME}

KNOWN_FORMATS: tuple[str, ...] = tuple(_MIME)

# Formats whose parts ``shared.synthesis.longform`` can join into one file:
# WAV and raw PCM sample-exactly, MP3 frame by frame. Ogg (opus, vorbis),
# FLAC and AAC carry stream-wide headers, granule positions or sample
# counts, so concatenating files would not give a valid file.
JOINABLE_FORMATS: tuple[str, ...] = ("wav", "pcm", "mp3")
# Formats whose exact length (in samples) the pipeline reads: what estimated word timings need.
MEASURABLE_FORMATS: tuple[str, ...] = ("wav", "pcm", "mp3")

# Upper bounds of bytes per second of mono speech, for sizing a job before it
# runs (``ModelSpec.estimated_audio_bytes``). Compressed formats are taken at
# the highest bitrate the providers here produce (192 kbit/s MP3 and AAC,
# 128 kbit/s Opus); FLAC at PCM size, its worst case.
_COMPRESSED_BYTES_PER_SECOND = {"mp3": 24_000, "aac": 24_000, "opus": 16_000, "ogg": 16_000}


def max_bytes_per_second(fmt: str, sample_rate: int) -> int:
    """An upper bound of the bytes one second of mono audio takes in ``fmt`` at ``sample_rate``."""
    if fmt in _COMPRESSED_BYTES_PER_SECOND:
        return _COMPRESSED_BYTES_PER_SECOND[fmt]
    return sample_rate * 2  # wav, pcm, flac: 16-bit mono PCM


def mime_type_for(fmt: str, *, sample_rate: int | None = None, channels: int = 1) -> str:
    """The MIME type of ``fmt``; for ``pcm`` with a known rate, with ``rate``/``channels`` parameters.

    Raises ``UnsupportedFormatError`` (field ``format``) for an unknown format.
    """
    try:
        mime = _MIME[fmt]
    except (KeyError, TypeError):
        raise UnsupportedFormatError(fmt, None, KNOWN_FORMATS) from None
    if fmt == "pcm" and sample_rate:
        return f"{mime};rate={int(sample_rate)};channels={int(channels)}"
    return mime


def extension_for(fmt: str) -> str:
    """The file extension (without the dot) of ``fmt``; ``UnsupportedFormatError`` if unknown."""
    try:
        return _EXTENSION[fmt]
    except (KeyError, TypeError):
        raise UnsupportedFormatError(fmt, None, KNOWN_FORMATS) from None
