"""What a provider actually returned, and joining parts of one format.

Providers do not always return what was asked (an OpenAI-compatible server
may ignore ``response_format``; raw PCM may arrive wrapped in WAV), so the
stored object is labelled from the bytes: ``identify`` sniffs the container
and returns the format to store it as. Bytes that are no audio at all (an
HTML error page with status 200, an empty body) raise ``BadAudioError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.errors import TransientSynthesisError
from shared.synthesis.errors import AudioFormatMismatchError, Mp3FormatError, WavFormatError
from shared.synthesis.formats import JOINABLE_FORMATS, extension_for, mime_type_for
from shared.synthesis.mp3 import join_mp3, looks_like_mp3, parse_mp3
from shared.synthesis.wav import join_pcm, join_wav, parse_wav

__all__ = ["AudioKind", "BadAudioError", "detect_format", "identify", "join_parts"]


class BadAudioError(TransientSynthesisError):
    """Raised when a provider's 200 response is not audio of the kind asked for (empty, garbage, unreadable).

    Transient: a provider glitch may not repeat, and the queue's retry limit bounds it.
    """


@dataclass(frozen=True)
class AudioKind:
    """What a piece of audio is: its format and, when known, its sample rate."""

    format: str
    sample_rate: int | None = None

    @property
    def mime_type(self) -> str:
        return mime_type_for(self.format, sample_rate=self.sample_rate)

    @property
    def extension(self) -> str:
        return extension_for(self.format)


def detect_format(data: bytes) -> str | None:
    """The container ``data`` starts with (``wav``, ``mp3``, ``ogg``, ``flac``, ``aac``), or None."""
    head = bytes(data[:64])
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:4] == b"fLaC":
        return "flac"
    if head[4:8] == b"ftyp":
        return "aac"  # MP4/M4A: AAC in an ISO container
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac"  # ADTS sync word, layer bits 00
    if looks_like_mp3(data):
        return "mp3"
    return None


def identify(data: bytes, requested: str, sample_rate: int | None) -> AudioKind:
    """The format to store ``data`` as, given that ``requested`` was asked for.

    Raw PCM has no signature: for a ``pcm`` request anything but a WAV file
    is taken as PCM (when its length is whole 16-bit samples). An Ogg
    stream answers an ``opus`` request. For every other request the bytes
    must be a recognisable container; when it is not the one asked for, the
    one found wins (so Content-Type and extension match the bytes).
    """
    if not data:
        raise BadAudioError(f"the provider returned no audio (0 bytes) for a {requested} request")
    if requested == "pcm" and not (data[:4] == b"RIFF" and data[8:12] == b"WAVE"):
        # Only a WAV header is told apart: samples can look like any other sync word.
        if len(data) % 2:
            raise BadAudioError(f"raw PCM of {len(data)} bytes is not whole 16-bit samples")
        return AudioKind("pcm", sample_rate)
    found = detect_format(data)
    if found is None:
        raise BadAudioError(f"the provider's response is not {requested} audio (starts with {bytes(data[:16])!r})")
    if found == "ogg" and requested in ("opus", "ogg"):
        found = requested
    if found == "wav":
        try:
            info = parse_wav(data)
        except WavFormatError as exc:
            raise BadAudioError(f"the provider returned an unreadable WAV file: {exc}") from exc
        return AudioKind("wav", info.sample_rate)
    if found == "mp3":
        try:
            return AudioKind("mp3", parse_mp3(data).sample_rate)
        except Mp3FormatError as exc:
            raise BadAudioError(f"the provider returned an unreadable MP3 file: {exc}") from exc
    return AudioKind(found, sample_rate)


def join_parts(kind: AudioKind, parts: Sequence[bytes]) -> bytes:
    """Join parts of one format into one file (one part is returned as is).

    WAV and PCM are joined sample-exactly (``join_wav`` / ``join_pcm``), MP3
    frame by frame (``join_mp3``). Other formats raise ``AudioFormatMismatchError``.
    """
    if len(parts) == 1:
        return parts[0]
    if kind.format not in JOINABLE_FORMATS:
        raise AudioFormatMismatchError(f"{kind.format} audio cannot be joined; joinable: {', '.join(JOINABLE_FORMATS)}")
    if kind.format == "wav":
        return join_wav(parts)
    if kind.format == "pcm":
        return join_pcm(parts)
    return join_mp3(parts)
