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

from shared.synthesis.errors import UnsupportedFormatError

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
