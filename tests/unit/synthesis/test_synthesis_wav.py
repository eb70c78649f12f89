"""WAV build / parse / join (shared.audio.wav)."""

from __future__ import annotations

import io
import struct
import wave
from array import array

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import PermanentSynthesisError
from shared.audio.errors import AudioFormatMismatchError, WavFormatError
from shared.audio.wav import join_pcm, join_wav, parse_wav, wav_bytes, wav_header, wav_pcm


def frames_of(data: bytes) -> bytes:
    """Frames as the stdlib ``wave`` module reads them: an independent parser."""
    with wave.open(io.BytesIO(data)) as w:
        return w.readframes(w.getnframes())


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def fmt_body(rate: int, channels: int, width: int, tag: int = 1) -> bytes:
    return struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, 8 * width)


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_build_then_parse_round_trip() -> None:
    pcm = array("h", [0, 1000, -1000, 32767, -32768, 5]).tobytes()
    data = wav_bytes(pcm, 24000)
    assert len(data) == 44 + len(pcm)
    info = parse_wav(data)
    assert (info.sample_rate, info.channels, info.sample_width) == (24000, 1, 2)
    assert (info.pcm_offset, info.pcm_length) == (44, len(pcm))
    assert info.frames == 6 and info.frame_size == 2
    assert data[info.pcm_offset : info.pcm_offset + info.pcm_length] == pcm
    assert wav_pcm(data) == pcm
    # the stdlib agrees with our header
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (24000, 1, 2, 6)
    assert frames_of(data) == pcm


@given(
    pcm_frames=st.binary(max_size=400),
    rate=st.sampled_from([8000, 16000, 22050, 24000, 44100, 48000]),
    channels=st.integers(1, 3),
    width=st.integers(1, 4),
)
def test_round_trip_any_format(pcm_frames: bytes, rate: int, channels: int, width: int) -> None:
    frame = channels * width
    pcm = pcm_frames[: len(pcm_frames) - len(pcm_frames) % frame]
    data = wav_bytes(pcm, rate, channels, width)
    info = parse_wav(data)
    assert (info.sample_rate, info.channels, info.sample_width) == (rate, channels, width)
    assert wav_pcm(data) == pcm


def test_parse_reads_stdlib_written_wav() -> None:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(bytes(range(256)) * 4)
    info = parse_wav(buf.getvalue())
    assert (info.sample_rate, info.channels, info.sample_width, info.frames) == (44100, 2, 2, 256)


def test_parse_skips_extra_chunks_before_and_after_data() -> None:
    pcm = array("h", range(-50, 50)).tobytes()
    data = riff(
        chunk(b"LIST", b"INFOISFT\x05\x00\x00\x00test\x00"),  # odd-sized body: padded
        chunk(b"fmt ", fmt_body(16000, 1, 2)),
        chunk(b"JUNK", b"\x00" * 7),
        chunk(b"data", pcm),
        chunk(b"LIST", b"INFOjunk"),
    )
    info = parse_wav(data)
    assert info.sample_rate == 16000
    assert data[info.pcm_offset : info.pcm_offset + info.pcm_length] == pcm
    assert frames_of(data) == pcm


def test_parse_accepts_extensible_pcm() -> None:
    guid_pcm = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    body = fmt_body(48000, 2, 3, tag=0xFFFE) + struct.pack("<HHI", 22, 24, 3) + guid_pcm
    pcm = bytes(60)
    info = parse_wav(riff(chunk(b"fmt ", body), chunk(b"data", pcm)))
    assert (info.sample_rate, info.channels, info.sample_width, info.frames) == (48000, 2, 3, 10)


def test_parse_streamed_wav_with_unknown_sizes() -> None:
    pcm = bytes(range(100))
    header = bytearray(wav_header(0, 22050))
    struct.pack_into("<I", header, 4, 0xFFFFFFFF)
    struct.pack_into("<I", header, 40, 0xFFFFFFFF)
    info = parse_wav(bytes(header) + pcm)
    assert info.pcm_length == 100 and info.pcm_offset == 44
    # a data size larger than what arrived: runs to the end, whole frames only
    truncated = wav_bytes(bytes(200), 22050)[:-11]
    assert parse_wav(truncated).pcm_length == 200 - 12


@pytest.mark.parametrize(
    "data, needle",
    [
        (b"", "shorter"),
        (b"hello world, this is not audio at all", "RIFF"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", "RIFF/WAVE"),
        (riff(chunk(b"data", bytes(4))), "no fmt"),
        (riff(chunk(b"fmt ", fmt_body(8000, 1, 2))), "no data"),
        (riff(chunk(b"fmt ", fmt_body(8000, 1, 4, tag=3)), chunk(b"data", bytes(8))), "not integer PCM"),
        (riff(chunk(b"fmt ", fmt_body(8000, 1, 2)[:10]), chunk(b"data", bytes(8))), "truncated"),
        (riff(chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 8000, 999, 2, 16)), chunk(b"data", b"")), "byte rate"),
    ],
)
def test_parse_rejects_garbage(data: bytes, needle: str) -> None:
    with pytest.raises(WavFormatError, match=needle) as excinfo:
        parse_wav(data)
    assert isinstance(excinfo.value, ValueError)
    assert isinstance(excinfo.value, PermanentSynthesisError)


@given(st.binary(max_size=200))
def test_parse_never_crashes_on_random_bytes(data: bytes) -> None:
    for candidate in (data, b"RIFF" + data, b"RIFF\x00\x00\x00\x00WAVE" + data):
        try:
            info = parse_wav(candidate)
        except WavFormatError:
            continue
        assert 0 <= info.pcm_offset <= info.pcm_offset + info.pcm_length <= len(candidate)
        assert info.pcm_length % info.frame_size == 0


def test_build_rejects_torn_frames_and_bad_formats() -> None:
    with pytest.raises(WavFormatError, match="whole number"):
        wav_bytes(b"\x00\x01\x02", 24000)
    with pytest.raises(WavFormatError, match="sample_width"):
        wav_bytes(b"", 24000, sample_width=5)
    with pytest.raises(WavFormatError, match="channels"):
        wav_bytes(b"", 24000, channels=0)


def test_join_is_sample_exact() -> None:
    parts_pcm = [array("h", range(n, n + 37 * k)).tobytes() for k, n in ((1, 0), (3, 500), (2, -900))]
    parts = [wav_bytes(p, 24000) for p in parts_pcm]
    # an extra chunk in one part must not leak into the joined audio
    parts[1] = riff(
        chunk(b"fmt ", fmt_body(24000, 1, 2)), chunk(b"LIST", b"INFOabcd"), chunk(b"data", parts_pcm[1])
    )
    joined = join_wav(parts)
    assert frames_of(joined) == b"".join(frames_of(p) for p in parts) == b"".join(parts_pcm)
    info = parse_wav(joined)
    assert info.frames == 37 * 6 and info.pcm_offset == 44 and len(joined) == 44 + info.pcm_length


def test_join_single_part_and_empty_parts() -> None:
    one = wav_bytes(bytes(10), 8000)
    assert join_wav([one]) == one
    empty = wav_bytes(b"", 8000)
    assert join_wav([empty, one, empty]) == one
    with pytest.raises(WavFormatError, match="at least one"):
        join_wav([])


@pytest.mark.parametrize(
    "other, what",
    [
        (wav_bytes(bytes(8), 16000), "16000 Hz"),
        (wav_bytes(bytes(8), 24000, channels=2), "2 ch"),
        (wav_bytes(bytes(8), 24000, sample_width=1), "8-bit"),
    ],
)
def test_join_refuses_mismatched_formats(other: bytes, what: str) -> None:
    base = wav_bytes(bytes(8), 24000)
    with pytest.raises(AudioFormatMismatchError, match=f"part 2 .*{what}.*formats differ"):
        join_wav([base, base, other])


def test_join_refuses_garbage_part() -> None:
    with pytest.raises(WavFormatError):
        join_wav([wav_bytes(bytes(8), 24000), b"ID3\x03 not a wav"])


def test_join_pcm() -> None:
    a, b = array("h", [1, 2, 3]).tobytes(), array("h", [4, 5]).tobytes()
    assert join_pcm([a, b]) == array("h", [1, 2, 3, 4, 5]).tobytes()
    assert join_pcm([]) == b""
    with pytest.raises(WavFormatError, match="part 1"):
        join_pcm([a, b"\x00\x01\x02"])
    with pytest.raises(WavFormatError, match="4-byte frames"):
        join_pcm([bytes(6)], channels=2)
