"""The audio stream reads each chunk in bounded pieces: whatever the piece size, the bytes sent are
exactly those of the chunk's payload (after the stream's header for chunk 0), and no piece is bigger
than asked."""

from __future__ import annotations

import pytest

from shared.api.stream import _chunk_pieces
from shared.models import JobRecord, JobStatus
from shared.ports import BlobInfo
from shared.audio.kinds import AudioKind, PartLayout
from shared.audio.wav import streaming_wav_header, wav_header
from tests.fakes import MemoryBody


def record(fmt: str) -> JobRecord:
    return JobRecord(job_id="a" * 32, tenant="t", status=JobStatus.PROCESSING, text="x", model="tone", format=fmt,
                     created_at=0.0, updated_at=0.0, ttl_seconds=60)


def body(data: bytes, layout: PartLayout | None) -> MemoryBody:
    meta = {"layout": layout.to_metadata()} if layout is not None else {}
    return MemoryBody(BlobInfo("k", len(data), "e", 0.0, None, meta), None, data)


async def collect(fmt: str, index: int, blob: MemoryBody, size: int) -> list[bytes]:
    return [p async for p in _chunk_pieces(record(fmt), AudioKind(fmt, 24000), index, blob, size)]


@pytest.mark.parametrize("size", [1, 3, 43, 44, 45, 100, 1000, 1 << 20])
@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("with_layout", [True, False])
async def test_wav_chunks_stream_their_samples_in_bounded_pieces(size: int, index: int, with_layout: bool) -> None:
    samples = bytes(range(256)) * 7
    data = wav_header(len(samples), 24000, 1, 2) + samples
    layout = PartLayout(44, len(samples), "wav:24000/1/2") if with_layout else None
    pieces = await collect("wav", index, body(data, layout), size)
    head = streaming_wav_header(24000, 1, 2) if index == 0 else b""
    assert b"".join(pieces) == head + samples
    assert all(len(p) <= max(size, len(head)) for p in pieces)


@pytest.mark.parametrize("size", [1, 5, 10, 11, 64, 1 << 16])
async def test_an_mp3_first_chunk_keeps_its_tag_then_its_frames(size: int) -> None:
    tag, junk, frames, tail = b"ID3" + b"t" * 7, b"\\x00" * 6, b"F" * 500, b"TAG" + b"x" * 5
    data = tag + junk + frames + tail
    layout = PartLayout(len(tag) + len(junk), len(frames), "mp3:1/3/24000/1", prefix=len(tag))
    assert b"".join(await collect("mp3", 0, body(data, layout), size)) == tag + frames
    assert b"".join(await collect("mp3", 1, body(data, layout), size)) == frames
