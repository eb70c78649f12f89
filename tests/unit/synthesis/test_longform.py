"""Long text through the consumer: chunks, progress, resume from R2, join, cleanup."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass, field, replace

import pytest

from shared.config import Settings
from shared.consumer import process_batch
from shared.dependencies import Dependencies
from shared.errors import TransientSynthesisError
from shared.jobs.shard import Cancel, Create, Get
from shared.jobs.sharding import shard_for
from shared.keys import TMP_PREFIX, tmp_prefix
from shared.logs import JsonLogger
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Retry
from shared.ports import IncomingMessage, SynthesisRequest, SynthesisResult
from shared.synthesis.catalogue import ModelSpec
from shared.text.chunking import chunk_texts
from shared.synthesis.longform import discard_all_chunks
from shared.audio.mp3 import parse_mp3
from shared.synthesis.tone import ToneSynthesizer
from shared.audio.wav import parse_wav, wav_pcm
from tests.audio_samples import mp3_file
from tests.fakes import FakeClock, MemoryShards, bootstrap_test_app

JOB = "d" * 32
LIMIT = 60
TEXT = " ".join(f"Sentence number {i} is here, and it has a clause." for i in range(9))  # ~50 chars each


def spec(**overrides: object) -> ModelSpec:
    fields: dict[str, object] = dict(
        id="fake/long",
        provider="fake",
        voices=["default"],
        default_voice="default",
        formats=["wav", "pcm", "mp3", "opus"],
        default_format="wav",
        sample_rates=[24000],
        default_sample_rate=24000,
        max_input_chars=LIMIT,
    )
    fields.update(overrides)
    return ModelSpec(**fields)  # type: ignore[arg-type]


@dataclass
class ChunkSynth:
    """Tone audio per chunk (or MP3 frames), with errors scripted by call number."""

    name: str = "fake"
    texts: list[str] = field(default_factory=list)
    fail_at: dict[int, Exception] = field(default_factory=dict)
    mp3: bool = False
    on_call: object = None

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        call = len(self.texts)
        self.texts.append(request.text)
        if callable(self.on_call):
            await self.on_call(call)  # type: ignore[misc]
        if call in self.fail_at:
            raise self.fail_at.pop(call)
        if self.mp3:
            tags = [ord(c) for c in request.text[:3]]
            return SynthesisResult(mp3_file(tags, id3=True, xing=True), "audio/mpeg", "mp3", 44100, len(request.text))
        return await ToneSynthesizer().synthesize(
            SynthesisRequest(request.text, "tone", "default", request.format, request.sample_rate)
        )


@pytest.fixture
def synth() -> ChunkSynth:
    return ChunkSynth()


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: ChunkSynth) -> Dependencies:
    model = spec()
    # The chunks one after another in the job's own delivery (tests/unit/core/test_fanout.py: in parallel).
    settings = Settings(retry_base_seconds=10, lease_seconds=120, max_audio_bytes=10_000_000, chunk_fanout=False)
    return bootstrap_test_app(settings, clock=clock, shards=shards, synthesizer=synth, spec=model, log_stream=io.StringIO())


async def queued(deps: Dependencies, clock: FakeClock, text: str = TEXT, fmt: str = "wav") -> JobRecord:
    return await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant="t", status=JobStatus.QUEUED, text=text, model="fake/long", voice_id="default",
            format=fmt, sample_rate=24000, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
        ),
        )
    )


def message(attempts: int = 1, msg_id: str = "m1") -> IncomingMessage:
    return IncomingMessage(id=msg_id, body={"v": 1, "jobId": JOB, "shard": shard_for(JOB, 2)}, attempts=attempts)


def samples(wav: bytes) -> tuple[int, ...]:
    pcm = wav_pcm(wav)
    return struct.unpack(f"<{len(pcm) // 2}h", pcm)


def tmp_keys(deps: Dependencies) -> list[str]:
    return sorted(k for k in deps.bucket.objects if k.startswith(TMP_PREFIX))  # type: ignore[attr-defined]


async def test_long_text_is_synthesized_in_chunks_and_joined_sample_exactly(
    deps: Dependencies, clock: FakeClock, synth: ChunkSynth, shards: MemoryShards
) -> None:
    await queued(deps, clock)
    chunks = chunk_texts(TEXT, LIMIT)
    assert len(chunks) >= 8
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    assert synth.texts == chunks
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED
    assert (job.progress_done, job.progress_total) == (len(chunks), len(chunks))
    assert job.characters == sum(len(c) for c in chunks)  # what was sent (and billed), whitespace between chunks aside
    audio = deps.bucket.objects[job.audio_key].data  # type: ignore[attr-defined,index]
    expected = []
    for text in chunks:
        expected.extend(samples((await ToneSynthesizer().synthesize(SynthesisRequest(text, "tone", None, "wav"))).audio))
    assert samples(audio) == tuple(expected)
    assert parse_wav(audio).sample_rate == 24000 and job.mime_type == "audio/wav" and job.audio_key.endswith(".wav")  # type: ignore[union-attr]
    assert tmp_keys(deps) == []  # partial chunks are gone once the job is completed
    assert ("shard-0", "progress") in shards.calls or ("shard-1", "progress") in shards.calls


async def test_a_retry_resumes_from_the_chunks_already_stored(
    deps: Dependencies, clock: FakeClock, synth: ChunkSynth
) -> None:
    await queued(deps, clock)
    total = len(chunk_texts(TEXT, LIMIT))
    synth.fail_at[3] = TransientSynthesisError("openai answered HTTP 429: slow down", retry_after=30)
    assert (await process_batch([message()], deps)).outcomes == {"m1": Retry(30)}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and "HTTP 429" in (job.error or "")
    assert (job.progress_done, job.progress_total) == (3, total)
    assert len(tmp_keys(deps)) == 3 and all(k.startswith(tmp_prefix(JOB)) for k in tmp_keys(deps))

    calls_before = len(synth.texts)  # 4: chunks 0-2 and the failed chunk 3
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert len(synth.texts) - calls_before == total - 3  # only the missing chunks were paid for again
    assert synth.texts[calls_before:] == chunk_texts(TEXT, LIMIT)[3:]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.progress_done == total
    fresh = ChunkSynth()
    expected = [s for t in chunk_texts(TEXT, LIMIT) for s in samples((await fresh.synthesize(SynthesisRequest(t, "x", None, "wav", 24000))).audio)]
    assert samples(deps.bucket.objects[job.audio_key].data) == tuple(expected)  # type: ignore[attr-defined,index]
    assert tmp_keys(deps) == []


async def test_cancel_stops_before_the_next_chunk(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    await queued(deps, clock)

    async def cancel_after_two(call: int) -> None:
        if call == 2:
            await deps.jobs.call(Cancel(job_id=JOB))

    synth.on_call = cancel_after_two
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    assert len(synth.texts) == 3  # the third was in flight when the cancel landed; no fourth
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.CANCELED and job.audio_key is None
    assert not any(k.startswith("audio/") for k in deps.bucket.objects)  # type: ignore[attr-defined]


async def test_mp3_chunks_are_joined_frame_by_frame(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    synth.mp3 = True
    await queued(deps, clock, fmt="mp3")
    await process_batch([message()], deps)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED, job.error if job else None
    audio = deps.bucket.objects[job.audio_key].data  # type: ignore[attr-defined,index]
    info = parse_mp3(audio)
    chunks = chunk_texts(TEXT, LIMIT)
    assert [audio[f.offset + 4] for f in info.frames] == [ord(c) for t in chunks for c in t[:3]]
    assert info.metadata_frame is None and audio.count(b"ID3") == 1
    assert job.mime_type == "audio/mpeg" and job.audio_key.endswith(".mp3")  # type: ignore[union-attr]


async def test_audio_over_the_cap_fails_the_job(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    deps.settings = replace(deps.settings, max_audio_bytes=3 * LIMIT * 2880)  # room for about three chunks of tone
    await queued(deps, clock)
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "MAX_AUDIO_BYTES" in (job.error or "")
    assert len(synth.texts) < len(chunk_texts(TEXT, LIMIT))
    assert tmp_keys(deps) == []


async def test_unjoinable_format_fails_before_paying(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    await queued(deps, clock, fmt="opus")
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.FAILED and "cannot be joined" in (job.error or "")
    assert synth.texts == []


async def test_short_text_is_one_request_without_chunk_objects(
    deps: Dependencies, clock: FakeClock, synth: ChunkSynth, shards: MemoryShards
) -> None:
    await queued(deps, clock, text="  Short and sweet.  ")
    await process_batch([message()], deps)
    assert synth.texts == ["  Short and sweet.  "]
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.characters == len("  Short and sweet.  ")
    assert tmp_keys(deps) == [] and not any(method == "progress" for _, method in shards.calls)


async def test_chunks_of_a_crashed_job_can_be_swept(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    await queued(deps, clock)
    synth.fail_at[2] = TransientSynthesisError("503")
    await process_batch([message()], deps)
    assert len(tmp_keys(deps)) == 2
    assert await discard_all_chunks(deps.bucket, JOB) == 2  # what the reaper does for a job that is gone
    assert tmp_keys(deps) == []


async def test_progress_shows_in_the_logs(deps: Dependencies, clock: FakeClock, synth: ChunkSynth) -> None:
    stream = io.StringIO()
    deps.log = JsonLogger("synth_consumer", stream)
    await queued(deps, clock)
    await process_batch([message()], deps)
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert "chunks_joined" in events and events[-1] == "job_completed"
