"""MPEG audio (MP3) frame parsing and frame-exact joining.

An MP3 stream is a sequence of self-contained frames, each starting with a
4-byte header that gives its length; tags may come before (ID3v2) and after
(ID3v1 ``TAG``, APEv2) the frames, and the first frame may be a metadata frame
(Xing/Info or VBRI) that carries the frame count of *that* file. So joining
files is: keep the audio frames of every part, in order, and drop what
describes a single part. ``join_mp3`` keeps the first part's ID3v2 tag and
drops the Xing/Info/VBRI frame of every part (its counts would describe part 0
only and make players show a wrong duration and seek wrongly); nothing is
re-encoded. Each part still carries its encoder's start delay and end
padding (a few milliseconds), so a join is frame-exact, not sample-exact.

MPEG-1, MPEG-2 and MPEG-2.5, layers I-III; free-format bitrates are refused.
Pure stdlib, no I/O: runs on CPython and in Pyodide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from shared.audio.errors import AudioFormatMismatchError, Mp3FormatError

__all__ = ["Mp3Frame", "Mp3Info", "join_mp3", "looks_like_mp3", "parse_mp3"]

# Bitrates in kbit/s, by (version is MPEG-1, layer) and index 1..14.
_BITRATES = {
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {1.0: (44100, 48000, 32000), 2.0: (22050, 24000, 16000), 2.5: (11025, 12000, 8000)}
_VERSION_BITS = {0: 2.5, 2: 2.0, 3: 1.0}  # 1 is reserved
_LAYER_BITS = {1: 3, 2: 2, 3: 1}  # 0 is reserved
_MAX_LEADING_JUNK = 64 * 1024  # how far past the tags to look for the first frame


@dataclass(frozen=True)
class Mp3Frame:
    offset: int
    length: int
    version: float  # 1.0, 2.0 or 2.5
    layer: int  # 1, 2 or 3
    bitrate: int  # bit/s
    sample_rate: int
    channels: int  # 1 (mono) or 2
    samples: int  # per channel
    is_metadata: bool = False  # a Xing/Info/VBRI frame: no audio of its own

    @property
    def stream_format(self) -> tuple[float, int, int, int]:
        return (self.version, self.layer, self.sample_rate, self.channels)


@dataclass(frozen=True)
class Mp3Info:
    frames: tuple[Mp3Frame, ...]  # audio frames only (metadata frames excluded)
    metadata_frame: Mp3Frame | None
    id3v2: tuple[int, int] | None  # (offset, length) of a leading ID3v2 tag

    @property
    def sample_rate(self) -> int:
        return self.frames[0].sample_rate

    @property
    def channels(self) -> int:
        return self.frames[0].channels

    @property
    def samples(self) -> int:
        return sum(f.samples for f in self.frames)

    @property
    def duration_seconds(self) -> float:
        return self.samples / self.sample_rate

    def describe(self) -> str:
        first = self.frames[0]
        version = "1" if first.version == 1.0 else ("2" if first.version == 2.0 else "2.5")
        return f"MPEG-{version} layer {first.layer}, {first.sample_rate} Hz, {first.channels} ch"


def _header(data: bytes | memoryview, pos: int) -> Mp3Frame | None:
    """The frame whose header starts at ``pos``, or None if there is no valid header there."""
    if pos + 4 > len(data):
        return None
    b0, b1, b2, b3 = data[pos], data[pos + 1], data[pos + 2], data[pos + 3]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None
    version = _VERSION_BITS.get((b1 >> 3) & 0x03)
    layer = _LAYER_BITS.get((b1 >> 1) & 0x03)
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 0x03
    if version is None or layer is None or bitrate_index in (0, 15) or rate_index == 3:
        return None
    if (b3 & 0x03) == 2:  # reserved emphasis
        return None
    bitrate = _BITRATES[(version == 1.0, layer)][bitrate_index - 1] * 1000
    sample_rate = _SAMPLE_RATES[version][rate_index]
    padding = (b2 >> 1) & 0x01
    channels = 1 if (b3 >> 6) == 3 else 2
    if layer == 1:
        length = (12 * bitrate // sample_rate + padding) * 4
        samples = 384
    elif layer == 2 or version == 1.0:
        length = 144 * bitrate // sample_rate + padding
        samples = 1152
    else:  # layer III, MPEG-2/2.5: half the samples per frame
        length = 72 * bitrate // sample_rate + padding
        samples = 576
    return Mp3Frame(pos, length, version, layer, bitrate, sample_rate, channels, samples)


def _is_metadata_frame(data: bytes | memoryview, frame: Mp3Frame) -> bool:
    if frame.layer != 3:
        return False
    crc = 0 if data[frame.offset + 1] & 0x01 else 2
    if frame.version == 1.0:
        side_info = 17 if frame.channels == 1 else 32
    else:
        side_info = 9 if frame.channels == 1 else 17
    at = frame.offset + 4 + crc + side_info
    tag = bytes(data[at : at + 4])
    vbri = bytes(data[frame.offset + 36 : frame.offset + 40])
    return tag in (b"Xing", b"Info") or vbri == b"VBRI"


def _id3v2_length(data: bytes | memoryview, pos: int) -> int:
    """Bytes of the ID3v2 tag at ``pos`` (0 if none)."""
    if bytes(data[pos : pos + 3]) != b"ID3" or pos + 10 > len(data):
        return 0
    size_bytes = data[pos + 6 : pos + 10]
    if any(b & 0x80 for b in size_bytes):
        raise Mp3FormatError("ID3v2 tag has a size that is not syncsafe")
    size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
    footer = 10 if data[pos + 5] & 0x10 else 0
    return 10 + size + footer


def _is_trailer(data: bytes | memoryview, pos: int) -> bool:
    head = bytes(data[pos : pos + 8])
    return head.startswith(b"TAG") or head == b"APETAGEX" or head.startswith(b"LYRICS") or not any(
        bytes(data[pos : pos + 4096])
    )


def looks_like_mp3(data: bytes) -> bool:
    """True when ``data`` starts like an MP3 file: an ID3v2 tag, or two consecutive valid frames."""
    if data[:3] == b"ID3":
        return True
    first = _header(data, 0)
    if first is None:
        return False
    second = _header(data, first.length)
    return (second is not None and second.stream_format == first.stream_format) or first.length >= len(data)


def parse_mp3(data: bytes) -> Mp3Info:
    """Locate every frame of an MP3 file; raises ``Mp3FormatError`` when it is not one.

    Leading ID3v2 tags (and zero padding after them) are skipped, so is junk
    before the first frame header that another header (or the end) follows. After the first frame the stream must be frames back to back up to
    an ID3v1/APE/Lyrics trailer, zero padding or the end; a final frame cut
    short is dropped (as a torn WAV frame is). Every frame must share the
    first one's version, layer, sample rate and channel count.
    """
    view = memoryview(data)
    size = len(view)
    pos = 0
    id3: tuple[int, int] | None = None
    while True:
        tag = _id3v2_length(view, pos)
        if not tag:
            break
        if id3 is None:
            id3 = (pos, tag)
        pos += tag
    while pos < size and view[pos] == 0:
        pos += 1
    start = _find_first_frame(view, pos)
    if start is None:
        raise Mp3FormatError("no MPEG audio frame found" + (" after the ID3v2 tag" if id3 else ""))

    frames: list[Mp3Frame] = []
    metadata: Mp3Frame | None = None
    pos = start
    first: Mp3Frame | None = None
    while pos < size:
        frame = _header(view, pos)
        if frame is None:
            if _is_trailer(view, pos) or size - pos < 4:
                break
            raise Mp3FormatError(f"no MPEG frame header at byte {pos} (after {len(frames)} frames)")
        if pos + frame.length > size:
            break  # torn final frame
        if first is None:
            first = frame
            if _is_metadata_frame(view, frame):
                metadata = replace(frame, is_metadata=True)
                pos += frame.length
                continue
        elif frame.stream_format != first.stream_format:
            raise Mp3FormatError(
                f"frame at byte {pos} changes the stream format ({frame.stream_format} after {first.stream_format})"
            )
        frames.append(frame)
        pos += frame.length
    if not frames:
        raise Mp3FormatError("MP3 file has no audio frames")
    return Mp3Info(tuple(frames), metadata, id3)


def _find_first_frame(view: memoryview, pos: int) -> int | None:
    end = min(len(view), pos + _MAX_LEADING_JUNK)
    while pos < end:
        frame = _header(view, pos)
        if frame is not None:
            after = pos + frame.length
            nxt = _header(view, after)
            if after >= len(view) or nxt is not None:
                return pos
        pos += 1
    return None


def join_mp3(parts: Sequence[bytes]) -> bytes:
    """Concatenate MP3 files frame by frame (see the module doc).

    Every part must share MPEG version, layer, sample rate and channel count,
    else ``AudioFormatMismatchError`` names the first part that differs. An
    empty list or a part that is not MP3 raises ``Mp3FormatError``.
    """
    if not parts:
        raise Mp3FormatError("join_mp3 needs at least one MP3 part")
    infos = [parse_mp3(p) for p in parts]
    first = infos[0]
    for index, info in enumerate(infos[1:], start=1):
        if info.frames[0].stream_format != first.frames[0].stream_format:
            raise AudioFormatMismatchError(
                f"cannot join MP3 part {index} ({info.describe()}) to part 0 ({first.describe()}): formats differ"
            )
    chunks: list[bytes | memoryview] = []
    if first.id3v2 is not None:
        offset, length = first.id3v2
        chunks.append(memoryview(parts[0])[offset : offset + length])
    for part, info in zip(parts, infos):
        view = memoryview(part)
        # Frames are contiguous from the first audio frame to the last: one slice per part.
        begin = info.frames[0].offset
        end = info.frames[-1].offset + info.frames[-1].length
        chunks.append(view[begin:end])
    return b"".join(chunks)
