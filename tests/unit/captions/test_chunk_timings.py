"""A long job's timings: chunks' words shifted by the samples before them and their place in the text;
kept beside the chunks, so a retry reuses them; a chunk stored without them is synthesized again."""

from __future__ import annotations

from shared.captions.chunks import ChunkTimings, chunk_offsets
from shared.models import JobRecord, JobStatus
from shared.ports import SynthesisRequest
from shared.audio.kinds import AudioKind
from shared.text.chunking import chunk_texts
from shared.synthesis.tone import ToneSynthesizer
from tests.fakes import FakeClock, MemoryBucket

TEXT = "  First sentence here.\n\nSecond one, a bit longer than that.  Third!  "
RECORD = JobRecord(job_id="a" * 32, tenant="t", status=JobStatus.PROCESSING, text=TEXT, model="tone", format="wav",
                   created_at=1_800_000_000, updated_at=1_800_000_000, ttl_seconds=60, timestamps="word")


def timings_for(bucket: MemoryBucket, plan: str, chunks: list[str], limit: int) -> ChunkTimings:
    return ChunkTimings(bucket, RECORD, plan, chunks, limit)


def test_chunk_offsets_point_at_each_chunk_in_the_text() -> None:
    limit = 25
    chunks = chunk_texts(TEXT, limit)
    offsets = chunk_offsets(TEXT, limit)
    assert len(chunks) == len(offsets) > 1
    for chunk, offset in zip(chunks, offsets):
        assert TEXT[offset : offset + len(chunk)] == chunk


async def test_joined_words_are_shifted_by_samples_and_characters() -> None:
    limit = 25
    chunks = chunk_texts(TEXT, limit)
    tone = ToneSynthesizer()
    bucket = MemoryBucket(FakeClock())
    timings = timings_for(bucket, "p" * 16, chunks, limit)
    for index, chunk in enumerate(chunks):
        result = await tone.synthesize(SynthesisRequest(chunk, "tone", None, "wav", 24000, timestamps=True))
        await timings.keep(index, result, AudioKind("wav", 24000))
    words, estimated = timings.joined()
    assert not estimated
    # Tone is 60 ms a character: a chunk starts after all characters of the chunks before it.
    before = 0
    for index, chunk in enumerate(chunks):
        first = next(w for w in words if w.char_start == chunk_offsets(TEXT, limit)[index])
        assert abs(first.start - before * 0.06) < 1e-9
        before += len(chunk)
    assert [TEXT[w.char_start : w.char_end] for w in words] == TEXT.split()

    # A retry loads what was kept (no synthesis), and gets the same words.
    again = timings_for(bucket, "p" * 16, chunks, limit)
    assert all([await again.resume(i) for i in range(len(chunks))])
    assert again.joined() == (words, False)
    # Another plan finds nothing.
    other = timings_for(bucket, "q" * 16, chunks, limit)
    assert not await other.resume(0)


async def test_a_chunk_without_engine_words_is_estimated_and_marked() -> None:
    chunks = chunk_texts(TEXT, 25)
    bucket = MemoryBucket(FakeClock())
    timings = timings_for(bucket, "p" * 16, chunks, 25)
    for index, chunk in enumerate(chunks):
        result = await ToneSynthesizer().synthesize(SynthesisRequest(chunk, "tone", None, "pcm", 24000))
        assert result.words is None
        await timings.keep(index, result, AudioKind("pcm", 24000))
    words, estimated = timings.joined()
    assert estimated and len(words) == len(TEXT.split())
