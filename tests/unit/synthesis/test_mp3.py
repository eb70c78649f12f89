from __future__ import annotations

import pytest

from shared.audio.kinds import AudioKind, JoinBuffer, detect_format, join_parts, part_layout
from shared.audio.errors import AudioFormatMismatchError, Mp3FormatError
from shared.audio.mp3 import join_mp3, looks_like_mp3, parse_mp3
from tests.audio_samples import id3v1, id3v2, mp3_file, mp3_frame, xing_frame


def frame_tags(data: bytes) -> list[int]:
    """The payload byte of every audio frame, in order (which frame of which part it was)."""
    info = parse_mp3(data)
    return [data[f.offset + 4] for f in info.frames]


def test_parse_finds_every_frame_and_its_format() -> None:
    data = mp3_file([1, 2, 3], padding=False)
    info = parse_mp3(data)
    assert len(info.frames) == 3 and info.metadata_frame is None and info.id3v2 is None
    first = info.frames[0]
    assert (first.version, first.layer, first.sample_rate, first.channels, first.bitrate) == (1.0, 3, 44100, 1, 128_000)
    assert first.length == 417 and info.samples == 3 * 1152
    assert info.duration_seconds == pytest.approx(3 * 1152 / 44100)


def test_padding_bit_adds_a_byte() -> None:
    assert len(mp3_frame(1, padding=True)) == len(mp3_frame(1)) + 1
    data = mp3_frame(1, padding=True) + mp3_frame(2) + mp3_frame(3, padding=True)
    assert frame_tags(data) == [1, 2, 3]


def test_tags_and_xing_are_recognised() -> None:
    data = mp3_file([7, 8], id3=True, xing=True, trailer=True)
    info = parse_mp3(data)
    assert info.id3v2 == (0, len(id3v2()))
    assert info.metadata_frame is not None and info.metadata_frame.is_metadata
    assert frame_tags(data) == [7, 8]  # the Xing frame is not audio; the ID3v1 trailer is not a frame


def test_torn_last_frame_is_dropped() -> None:
    data = mp3_file([1, 2, 3])[:-100]
    assert frame_tags(data) == [1, 2]


def test_mpeg2_frames() -> None:
    data = mp3_file([1, 2], rate=24000, bitrate=64)
    info = parse_mp3(data)
    assert (info.frames[0].version, info.sample_rate, info.frames[0].samples) == (2.0, 24000, 576)
    assert info.frames[0].length == 72 * 64000 // 24000


@pytest.mark.parametrize(
    "data",
    [b"", b"not an mp3 at all" * 10, b"<html><body>Bad gateway</body></html>", id3v2() + b"\x01\x02" * 50],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(Mp3FormatError):
        parse_mp3(data)
    assert detect_format(data) is None or data.startswith(b"ID3")


def test_junk_between_frames_is_refused() -> None:
    data = mp3_frame(1) + mp3_frame(2) + b"JUNKJUNK" + mp3_frame(3)
    with pytest.raises(Mp3FormatError, match="no MPEG frame header at byte"):
        parse_mp3(data)


def test_stream_that_changes_rate_is_refused() -> None:
    with pytest.raises(Mp3FormatError, match="changes the stream format"):
        parse_mp3(mp3_frame(1) + mp3_frame(2, rate=48000, bitrate=128) + mp3_frame(3))


def test_join_keeps_every_audio_frame_in_order() -> None:
    parts = [mp3_file([1, 2, 3]), mp3_file([4, 5]), mp3_file([6])]
    joined = join_mp3(parts)
    assert frame_tags(joined) == [1, 2, 3, 4, 5, 6]
    assert len(joined) == sum(len(p) for p in parts)


def test_join_strips_xing_of_every_part_and_id3_of_later_parts() -> None:
    parts = [
        mp3_file([1, 2], id3=True, xing=True),
        mp3_file([3, 4], id3=True, xing=True, trailer=True),
        mp3_file([5], xing=True),
    ]
    joined = join_mp3(parts)
    info = parse_mp3(joined)
    assert frame_tags(joined) == [1, 2, 3, 4, 5]
    assert info.metadata_frame is None  # no part's Xing (its frame count would be wrong) survives
    assert joined.startswith(id3v2()) and joined.count(b"ID3") == 1 and b"TAG" not in joined
    # frame integrity: the stream is tag + frames back to back, nothing else
    assert len(joined) == len(id3v2()) + sum(f.length for f in info.frames)


def test_join_refuses_parts_of_different_formats() -> None:
    with pytest.raises(AudioFormatMismatchError, match="part 1"):
        join_mp3([mp3_file([1]), mp3_file([2], rate=48000)])
    with pytest.raises(AudioFormatMismatchError, match="part 2"):
        join_mp3([mp3_file([1]), mp3_file([2]), mp3_file([3], mono=False)])
    with pytest.raises(Mp3FormatError):
        join_mp3([])


def test_join_buffer_gives_the_same_file_as_join_mp3() -> None:
    parts = [mp3_file([1, 2], id3=True, xing=True), mp3_file([3], xing=True, trailer=True), mp3_file([4, 5, 6])]
    kind = AudioKind("mp3", 44100)
    joiner = JoinBuffer(kind, [part_layout(kind, p) for p in parts])
    for part in parts:
        joiner.add(part)
    assert bytes(joiner.result()) == join_mp3(parts) == join_parts(kind, parts)


def test_looks_like_mp3() -> None:
    assert looks_like_mp3(mp3_file([1, 2]))
    assert looks_like_mp3(id3v2() + mp3_frame(1))
    assert not looks_like_mp3(b"\xff\xfb" + b"\x00" * 10)  # a sync word alone is not a stream
    assert detect_format(mp3_file([1, 2])) == "mp3" and detect_format(xing_frame() + mp3_frame(1)) == "mp3"
    assert detect_format(id3v1()) is None
