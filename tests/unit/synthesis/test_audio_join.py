"""Joining parts of long jobs: WAV and PCM sample-exactly; identifying what a provider sent."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.audio.kinds import AudioKind, BadAudioError, JoinBuffer, PartLayout, identify, join_parts, part_layout
from shared.audio.errors import AudioFormatMismatchError
from shared.audio.wav import join_wav, parse_wav, wav_bytes, wav_pcm
from tests.audio_samples import mp3_file, ramp_wav


def frames(wav: bytes) -> list[int]:
    pcm = wav_pcm(wav)
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=6))
def test_joined_wav_frames_equal_the_concatenation_of_the_parts(lengths: list[int]) -> None:
    parts = []
    start = 0
    for n in lengths:
        parts.append(ramp_wav(n, start=start))
        start += n
    kind = AudioKind("wav", 24000)
    joined = join_parts(kind, parts)
    assert frames(joined) == [v for p in parts for v in frames(p)]
    info = parse_wav(joined)
    assert (info.sample_rate, info.channels, info.sample_width, info.pcm_offset) == (24000, 1, 2, 44)
    assert len(joined) == 44 + 2 * sum(lengths)
    assert joined == join_wav(parts)  # the streaming joiner agrees with the in-memory one


def test_streamed_wav_headers_join_too() -> None:
    # Encoders that cannot seek write 0xFFFFFFFF sizes (OpenAI's wav does).
    part = bytearray(ramp_wav(100, start=5))
    part[4:8] = b"\xff\xff\xff\xff"
    part[40:44] = b"\xff\xff\xff\xff"
    joined = join_parts(AudioKind("wav", 24000), [bytes(part), ramp_wav(10, start=105)])
    assert frames(joined) == list(range(5 - 32768, 115 - 32768))


def test_pcm_joins_byte_exactly() -> None:
    parts = [b"\x01\x00\x02\x00", b"", b"\x03\x00"]
    assert join_parts(AudioKind("pcm", 24000), parts) == b"".join(parts)
    with pytest.raises(ValueError):
        part_layout(AudioKind("pcm", 24000), b"\x01\x00\x02")


def test_parts_of_different_rates_are_refused() -> None:
    with pytest.raises(AudioFormatMismatchError, match="part 1"):
        join_parts(AudioKind("wav", 24000), [ramp_wav(10), ramp_wav(10, rate=16000)])


@pytest.mark.parametrize("fmt", ["opus", "ogg", "flac", "aac"])
def test_formats_that_cannot_be_joined(fmt: str) -> None:
    with pytest.raises(AudioFormatMismatchError, match="cannot be joined"):
        part_layout(AudioKind(fmt, 48000), b"OggS....")


def test_join_buffer_needs_every_part_in_order() -> None:
    kind = AudioKind("wav", 24000)
    parts = [ramp_wav(10), ramp_wav(20)]
    joiner = JoinBuffer(kind, [part_layout(kind, p) for p in parts])
    joiner.add(parts[0])
    with pytest.raises(AudioFormatMismatchError, match="only 1 of 2"):
        joiner.result()
    with pytest.raises(AudioFormatMismatchError, match="shorter"):
        joiner.add(parts[0])  # part 1 was measured at 20 samples


def test_layout_round_trips_through_r2_metadata() -> None:
    layout = part_layout(AudioKind("mp3", 44100), mp3_file([1, 2], id3=True))
    assert PartLayout.from_metadata(layout.to_metadata()) == layout
    assert PartLayout.from_metadata("garbage") is None and PartLayout.from_metadata(None) is None


def test_identify_labels_what_was_actually_sent() -> None:
    assert identify(ramp_wav(10, rate=16000), "wav", None) == AudioKind("wav", 16000)
    assert identify(ramp_wav(10), "pcm", 24000) == AudioKind("wav", 24000)  # a WAV for a pcm request stays WAV
    assert identify(b"\xff\xf1\x00\x00", "pcm", 24000) == AudioKind("pcm", 24000)  # raw samples are never sniffed
    assert identify(mp3_file([1, 2]), "wav", 24000) == AudioKind("mp3", 44100)  # the server ignored the format
    assert identify(b"OggS" + b"\x00" * 60, "opus", 48000).format == "opus"
    assert identify(b"fLaC" + b"\x00" * 60, "flac", 48000).format == "flac"
    assert AudioKind("pcm", 24000).mime_type == "audio/pcm;rate=24000;channels=1"
    assert AudioKind("mp3", 44100).extension == "mp3"


@pytest.mark.parametrize(
    "data, requested",
    [(b"", "mp3"), (b"<html>502 Bad Gateway</html>", "mp3"), (b'{"error": "x"}', "wav"), (b"\x01\x02\x03", "pcm")],
)
def test_garbage_is_bad_audio(data: bytes, requested: str) -> None:
    with pytest.raises(BadAudioError):
        identify(data, requested, 24000)


def test_one_part_is_returned_untouched() -> None:
    part = wav_bytes(b"\x00\x01" * 3, 8000)
    assert join_parts(AudioKind("wav", 8000), [part]) is part
