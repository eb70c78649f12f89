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
from shared.audio.errors import AudioFormatMismatchError, Mp3FormatError, WavFormatError
from shared.audio.formats import JOINABLE_FORMATS, extension_for, mime_type_for
from shared.audio.mp3 import looks_like_mp3, parse_mp3
from shared.audio.wav import parse_wav, wav_header

__all__ = ["AudioKind", "BadAudioError", "JoinBuffer", "JoinLayout", "PartLayout", "Piece", "join_layout", "detect_format", "identify", "join_parts", "part_layout"]


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


@dataclass(frozen=True)
class PartLayout:
    """Where a part's payload (samples or frames) lies, and what must match between parts to join them."""

    offset: int
    length: int
    signature: str  # "wav:<rate>/<channels>/<width>", "pcm", "mp3:<version>/<layer>/<rate>/<channels>"
    prefix: int = 0  # bytes at the start kept when the part comes first (an MP3's ID3v2 tag)

    def to_metadata(self) -> str:
        return f"{self.offset}:{self.length}:{self.prefix}:{self.signature}"

    @classmethod
    def from_metadata(cls, text: str | None) -> PartLayout | None:
        try:
            offset, length, prefix, signature = (text or "").split(":", 3)
            return cls(int(offset), int(length), signature, int(prefix))
        except ValueError:
            return None


def part_layout(kind: AudioKind, data: bytes) -> PartLayout:
    """Measure one part for joining; raises ``AudioFormatMismatchError`` for a format that cannot be joined."""
    if kind.format == "wav":
        info = parse_wav(data)
        return PartLayout(info.pcm_offset, info.pcm_length, f"wav:{info.sample_rate}/{info.channels}/{info.sample_width}")
    if kind.format == "pcm":
        if len(data) % 2:
            raise WavFormatError(f"PCM part of {len(data)} bytes is not whole 16-bit samples")
        return PartLayout(0, len(data), "pcm")
    if kind.format == "mp3":
        mp3 = parse_mp3(data)
        first, last = mp3.frames[0], mp3.frames[-1]
        prefix = mp3.id3v2[0] + mp3.id3v2[1] if mp3.id3v2 is not None and mp3.id3v2[0] == 0 else 0
        version, layer, rate, channels = first.stream_format
        return PartLayout(first.offset, last.offset + last.length - first.offset, f"mp3:{version}/{layer}/{rate}/{channels}", prefix)
    raise AudioFormatMismatchError(f"{kind.format} audio cannot be joined; joinable: {', '.join(JOINABLE_FORMATS)}")


@dataclass(frozen=True)
class Piece:
    """Bytes of the joined file copied from one part: ``length`` bytes at ``offset`` of part ``part``."""

    part: int
    offset: int
    length: int


@dataclass(frozen=True)
class JoinLayout:
    """The joined file, described without its bytes: a header, then pieces of the parts in order.

    WAV gets one canonical header for the total PCM (sample-exact join), raw
    PCM none, MP3 the first part's ID3v2 tag (a piece of part 0), then the
    frames of every part, their Xing/Info frames dropped (see ``mp3``).
    """

    header: bytes
    pieces: tuple[Piece, ...]

    @property
    def size(self) -> int:
        return len(self.header) + sum(p.length for p in self.pieces)


def join_layout(kind: AudioKind, layouts: Sequence[PartLayout]) -> JoinLayout:
    """How parts measured by ``part_layout`` join; ``AudioFormatMismatchError`` if they cannot."""
    if not layouts:
        raise AudioFormatMismatchError("nothing to join: no parts")
    first = layouts[0]
    for index, layout in enumerate(layouts[1:], start=1):
        if layout.signature != first.signature:
            raise AudioFormatMismatchError(
                f"cannot join part {index} ({layout.signature}) to part 0 ({first.signature}): formats differ"
            )
    pieces = [Piece(i, layout.offset, layout.length) for i, layout in enumerate(layouts)]
    if kind.format == "wav":
        rate, channels, width = (int(x) for x in first.signature.split(":", 1)[1].split("/"))
        return JoinLayout(wav_header(sum(p.length for p in pieces), rate, channels, width), tuple(pieces))
    if first.prefix:
        pieces.insert(0, Piece(0, 0, first.prefix))
    return JoinLayout(b"", tuple(pieces))


class JoinBuffer:
    """One joined file, allocated once at its final size; parts are copied in one at a time.

    So a job holds its joined audio once plus the part being copied, never all
    the parts and the result at the same time. What goes where is
    ``join_layout``'s (the same rule the streamed assembly into R2 follows,
    ``shared.synthesis.assembly``).
    """

    def __init__(self, kind: AudioKind, layouts: Sequence[PartLayout]) -> None:
        self._layout = join_layout(kind, layouts)
        self._parts = len(layouts)
        self.buffer = bytearray(self._layout.size)
        self.buffer[: len(self._layout.header)] = self._layout.header
        self._pos = len(self._layout.header)
        self._piece = 0
        self._next = 0

    def add(self, data: bytes) -> None:
        """Copy the next part's pieces in (parts in order)."""
        if self._next >= self._parts:
            raise AudioFormatMismatchError("more parts than were measured")
        view = memoryview(data)
        pieces = self._layout.pieces
        while self._piece < len(pieces) and pieces[self._piece].part == self._next:
            piece = pieces[self._piece]
            chunk = view[piece.offset : piece.offset + piece.length]
            if len(chunk) != piece.length:
                raise AudioFormatMismatchError(f"part {self._next} is shorter than when it was measured")
            self.buffer[self._pos : self._pos + piece.length] = chunk
            self._pos += piece.length
            self._piece += 1
        self._next += 1

    def result(self) -> bytearray:
        if self._next != self._parts:
            raise AudioFormatMismatchError(f"only {self._next} of {self._parts} parts were added")
        return self.buffer


def join_parts(kind: AudioKind, parts: Sequence[bytes]) -> bytes:
    """Join in-memory parts of one format into one file (one part is returned as is).

    WAV and PCM are joined sample-exactly, MP3 frame by frame, through
    ``JoinBuffer`` (so the result equals ``join_wav`` / ``join_pcm`` /
    ``join_mp3`` of the same parts). Other formats raise ``AudioFormatMismatchError``.
    """
    if len(parts) == 1:
        return parts[0]
    joiner = JoinBuffer(kind, [part_layout(kind, p) for p in parts])
    for part in parts:
        joiner.add(part)
    return bytes(joiner.result())
