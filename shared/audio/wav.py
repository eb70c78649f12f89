"""PCM WAV (RIFF/WAVE) building, parsing and sample-exact joining.

Only integer PCM is handled (format tag 1, or WAVE_FORMAT_EXTENSIBLE whose
sub-format is PCM): that is what the pipeline's providers produce and what
``join_wav`` can concatenate without re-encoding. Sample widths 1 to 4 bytes
(8-bit is unsigned, as the format says; wider is signed little endian).

Pure stdlib, no I/O: runs on CPython and in Pyodide.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from shared.audio.errors import AudioFormatMismatchError, WavFormatError

WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
# The GUID tail shared by every KSDATAFORMAT_SUBTYPE_*; the first two bytes are the format tag.
_KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"

HEADER_SIZE = 44
_MAX_RIFF = 0xFFFFFFFF
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # sizes written by encoders that could not seek back


@dataclass(frozen=True)
class WavInfo:
    """What ``parse_wav`` found: the format and where the PCM samples are."""

    sample_rate: int
    channels: int
    sample_width: int  # bytes per sample of one channel
    pcm_offset: int  # byte offset of the first sample in the file
    pcm_length: int  # bytes of PCM, a whole number of frames

    @property
    def frame_size(self) -> int:
        """Bytes per frame (one sample of every channel): the block align."""
        return self.channels * self.sample_width

    @property
    def frames(self) -> int:
        return self.pcm_length // self.frame_size

    @property
    def duration_seconds(self) -> float:
        return self.frames / self.sample_rate

    def same_format(self, other: WavInfo) -> bool:
        return (self.sample_rate, self.channels, self.sample_width) == (
            other.sample_rate,
            other.channels,
            other.sample_width,
        )

    def describe(self) -> str:
        return f"{self.sample_rate} Hz, {self.channels} ch, {8 * self.sample_width}-bit"


def _check_format(sample_rate: int, channels: int, sample_width: int) -> None:
    if not isinstance(sample_rate, int) or not 1 <= sample_rate <= 0xFFFFFFFF:
        raise WavFormatError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not isinstance(channels, int) or not 1 <= channels <= 0xFFFF:
        raise WavFormatError(f"channels must be between 1 and 65535, got {channels!r}")
    if sample_width not in (1, 2, 3, 4):
        raise WavFormatError(f"sample_width must be 1, 2, 3 or 4 bytes, got {sample_width!r}")
    if sample_rate * channels * sample_width > 0xFFFFFFFF:
        raise WavFormatError("byte rate does not fit a WAV header")


def wav_header(pcm_length: int, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """The canonical 44-byte header for ``pcm_length`` bytes of PCM that will follow it.

    Lets a caller write ``b"".join([wav_header(n, ...), *chunks])`` without
    first joining the chunks (one copy instead of two for large audio).
    """
    _check_format(sample_rate, channels, sample_width)
    block_align = channels * sample_width
    if pcm_length < 0 or pcm_length % block_align:
        raise WavFormatError(
            f"PCM length {pcm_length} is not a whole number of {block_align}-byte frames"
        )
    if pcm_length + HEADER_SIZE - 8 > _MAX_RIFF:
        raise WavFormatError(f"PCM of {pcm_length} bytes is too large for a WAV file (4 GiB)")
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        pcm_length + HEADER_SIZE - 8,
        b"WAVE",
        b"fmt ",
        16,
        WAVE_FORMAT_PCM,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        8 * sample_width,
        b"data",
        pcm_length,
    )


STREAMING_SIZE = 0xFFFFFFFF
"""The RIFF and data sizes of a streamed WAV, whose length is not known when its header is sent."""


def streaming_wav_header(sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """A 44-byte header for PCM of unknown length: RIFF and ``data`` sizes 0xFFFFFFFF.

    What streaming servers (ffmpeg's ``-f wav`` to a pipe, icecast relays)
    send; browsers, ffmpeg, sox and Python's ``wave`` read such a file until
    its bytes end. The header is byte for byte the size of ``wav_header``'s.
    """
    _check_format(sample_rate, channels, sample_width)
    block_align = channels * sample_width
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", STREAMING_SIZE, b"WAVE", b"fmt ", 16, WAVE_FORMAT_PCM, channels, sample_rate,
        sample_rate * block_align, block_align, 8 * sample_width, b"data", STREAMING_SIZE,
    )


def wav_bytes(pcm: bytes, sample_rate: int, channels: int = 1, sample_width: int = 2) -> bytes:
    """A complete WAV file: the 44-byte header followed by ``pcm``.

    Raises ``WavFormatError`` when ``pcm`` is not a whole number of frames
    or the format is not representable.
    """
    return b"".join((wav_header(len(pcm), sample_rate, channels, sample_width), pcm))


def parse_wav(data: bytes) -> WavInfo:
    """Read a PCM WAV file's format and locate its samples.

    Walks the RIFF chunks, so extra chunks (``LIST``, ``fact``, ``bext``,
    ``JUNK``...) before or after ``data`` are skipped. A ``data`` chunk whose
    declared size runs past the end of the bytes (streamed WAVs write
    ``0xFFFFFFFF``, or 0 together with a streaming RIFF size) is taken to run
    to the end, truncated to whole frames. Raises ``WavFormatError`` on
    anything else: not RIFF/WAVE, no ``fmt `` or ``data`` chunk, a non-PCM
    encoding (float, mu-law, ...), or inconsistent fields.
    """
    view = memoryview(data)
    size = len(view)
    if size < 12:
        raise WavFormatError(f"not a WAV file: {size} bytes is shorter than a RIFF header")
    riff, riff_size, wave = struct.unpack_from("<4sI4s", view, 0)
    if riff != b"RIFF" or wave != b"WAVE":
        if riff == b"RF64":
            raise WavFormatError("RF64 (64-bit WAV) is not supported")
        raise WavFormatError("not a WAV file: missing RIFF/WAVE signature")
    streaming = riff_size in _STREAMING_SIZES

    fmt: tuple[int, int, int] | None = None  # rate, channels, width
    data_span: tuple[int, int] | None = None
    pos = 12
    while pos + 8 <= size:
        chunk_id, chunk_size = struct.unpack_from("<4sI", view, pos)
        body = pos + 8
        if chunk_id == b"fmt ":
            if fmt is not None:
                raise WavFormatError("WAV file has two fmt chunks")
            if chunk_size < 16 or body + chunk_size > size:
                raise WavFormatError(f"WAV fmt chunk is truncated ({chunk_size} bytes declared)")
            fmt = _read_fmt(view[body : body + chunk_size])
        elif chunk_id == b"data":
            if data_span is not None:
                raise WavFormatError("WAV file has two data chunks")
            available = size - body
            if chunk_size > available or (chunk_size == 0 and streaming and available > 0):
                data_span = (body, available)
                break  # the data runs to the end: nothing after it can be trusted
            data_span = (body, chunk_size)
        pos = body + chunk_size + (chunk_size & 1)  # chunks are padded to even sizes
        if fmt is not None and data_span is not None:
            break
    if fmt is None:
        raise WavFormatError("WAV file has no fmt chunk")
    if data_span is None:
        raise WavFormatError("WAV file has no data chunk")
    sample_rate, channels, sample_width = fmt
    offset, length = data_span
    length -= length % (channels * sample_width)  # drop a torn trailing frame
    return WavInfo(sample_rate, channels, sample_width, offset, length)


def _read_fmt(fmt: memoryview) -> tuple[int, int, int]:
    tag, channels, rate, byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            raise WavFormatError("WAV extensible fmt chunk is truncated")
        valid_bits = struct.unpack_from("<H", fmt, 18)[0]
        sub_tag = struct.unpack_from("<H", fmt, 24)[0]
        if bytes(fmt[26:40]) != _KSDATAFORMAT_TAIL or sub_tag != WAVE_FORMAT_PCM:
            raise WavFormatError("WAV extensible sub-format is not integer PCM")
        if valid_bits and valid_bits != bits:
            raise WavFormatError(f"WAV with {valid_bits} valid bits in {bits}-bit containers is not supported")
    elif tag != WAVE_FORMAT_PCM:
        raise WavFormatError(f"WAV encoding {tag:#06x} is not integer PCM (only format 1 is supported)")
    if bits % 8 or not 8 <= bits <= 32:
        raise WavFormatError(f"WAV sample size of {bits} bits is not supported")
    width = bits // 8
    if channels < 1 or rate < 1:
        raise WavFormatError(f"WAV declares {channels} channels at {rate} Hz")
    if block_align != channels * width:
        raise WavFormatError(
            f"WAV block align {block_align} does not match {channels} channels of {width} bytes"
        )
    if byte_rate != rate * block_align:
        raise WavFormatError(f"WAV byte rate {byte_rate} does not match {rate} Hz x {block_align} bytes")
    return rate, channels, width


def wav_pcm(data: bytes) -> bytes:
    """The PCM samples of a WAV file (a copy), after ``parse_wav`` has checked it."""
    info = parse_wav(data)
    return bytes(memoryview(data)[info.pcm_offset : info.pcm_offset + info.pcm_length])


def join_wav(parts: Sequence[bytes]) -> bytes:
    """Concatenate WAV files into one, sample-exactly, under a single header.

    The output's PCM is exactly the parts' PCM back to back (no resampling,
    no gap, no crossfade); extra chunks of the parts are dropped. Every part
    must share one sample rate, channel count and sample width, else
    ``AudioFormatMismatchError`` names the first part that differs. An empty
    list raises ``WavFormatError``.
    """
    if not parts:
        raise WavFormatError("join_wav needs at least one WAV part")
    infos = [parse_wav(p) for p in parts]
    first = infos[0]
    for index, info in enumerate(infos[1:], start=1):
        if not info.same_format(first):
            raise AudioFormatMismatchError(
                f"cannot join WAV part {index} ({info.describe()}) to part 0 ({first.describe()}): "
                "formats differ"
            )
    total = sum(i.pcm_length for i in infos)
    header = wav_header(total, first.sample_rate, first.channels, first.sample_width)
    chunks: list[bytes | memoryview] = [header]
    for part, info in zip(parts, infos):
        chunks.append(memoryview(part)[info.pcm_offset : info.pcm_offset + info.pcm_length])
    return b"".join(chunks)


def join_pcm(parts: Sequence[bytes], *, channels: int = 1, sample_width: int = 2) -> bytes:
    """Concatenate raw PCM parts (no headers), checking each is whole frames.

    Raw PCM carries no format, so the caller vouches that all parts share it;
    a part whose length is not a multiple of ``channels * sample_width``
    raises ``WavFormatError`` (a torn frame would shift every later sample).
    """
    frame = channels * sample_width
    if frame < 1:
        raise WavFormatError(f"invalid frame size {channels} x {sample_width}")
    for index, part in enumerate(parts):
        if len(part) % frame:
            raise WavFormatError(
                f"PCM part {index} has {len(part)} bytes, not a whole number of {frame}-byte frames"
            )
    return b"".join(parts)
