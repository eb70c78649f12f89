"""Assembly of a long job's chunks into one object by R2 multipart upload: exact bytes, resume, abort, memory."""

from __future__ import annotations

import io
import struct
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local_runtime.bindings.r2 import LocalBucket
from shared.config import Settings
from shared.consumer import process_batch
from shared.dependencies import Dependencies
from shared.jobs.shard import Cancel, CompleteBatch, Get, Release
from shared.keys import TMP_PREFIX, upload_record_key
from shared.logs import JsonLogger
from shared.models import JobStatus
from shared.outcomes import Ack, Retry
from shared.ports import SynthesisRequest
from shared.synthesis.assembly import MIB, Chunk, assemble, part_size_for
from shared.audio.kinds import AudioKind, join_layout, part_layout
from shared.text.chunking import chunk_texts
from shared.synthesis.longform import plan_id
from shared.synthesis.tone import ToneSynthesizer
from shared.audio.wav import parse_wav
from tests.fakes import FakeClock, MemoryBucket, MemoryShards, bootstrap_test_app
from tests.unit.synthesis.test_longform import JOB, ChunkSynth, message, queued, spec

LIMIT = 500  # characters a request: 1.44 MB of 24 kHz tone WAV per chunk
# ~13.7 MB of audio: with 5 MiB parts (R2's minimum) the upload has 3 parts, the last one short
TEXT = " ".join(f"Sentence {i:04d} has a few words, then it ends." for i in range(100))
PART = 5 * MIB


@pytest.fixture
def synth() -> ChunkSynth:
    return ChunkSynth()


@pytest.fixture
def bucket(clock: FakeClock) -> MemoryBucket:
    return MemoryBucket(clock)


@pytest.fixture
def deps(shards: MemoryShards, clock: FakeClock, synth: ChunkSynth, bucket: MemoryBucket) -> Dependencies:
    model = spec(max_input_chars=LIMIT)
    settings = Settings(retry_base_seconds=10, lease_seconds=120, chunk_fanout=False)  # chunks in one delivery
    return bootstrap_test_app(
        settings, clock=clock, shards=shards, bucket=bucket, synthesizer=synth, spec=model, log_stream=io.StringIO()
    )


@pytest.fixture(autouse=True)
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of R2's minimum, 5 MiB, so a 14 MB job needs three of them."""
    monkeypatch.setattr("shared.synthesis.assembly.PART_BYTES", PART)


async def expected_samples() -> bytes:
    tone = ToneSynthesizer()
    pcm = b""
    for text in chunk_texts(TEXT, LIMIT):
        wav = (await tone.synthesize(SynthesisRequest(text, "tone", None, "wav", 24000))).audio
        info = parse_wav(wav)
        pcm += wav[info.pcm_offset : info.pcm_offset + info.pcm_length]
    return pcm


def tmp_keys(bucket: MemoryBucket) -> list[str]:
    return sorted(k for k in bucket.objects if k.startswith(TMP_PREFIX))


async def test_a_long_job_is_one_wav_uploaded_in_equal_parts_sample_exact(
    deps: Dependencies, clock: FakeClock, bucket: MemoryBucket
) -> None:
    await queued(deps, clock, text=TEXT)
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED, job
    audio = bucket.objects[job.audio_key].data  # type: ignore[index]
    pcm = await expected_samples()
    info = parse_wav(audio)
    # one canonical header for the total length: RIFF size and data size match the body exactly
    assert info.pcm_offset == 44 and info.pcm_length == len(pcm) == len(audio) - 44
    assert struct.unpack_from("<I", audio, 4)[0] == len(audio) - 8
    assert audio[44:] == pcm  # every sample of every chunk, in order, none lost or doubled
    assert job.size_bytes == len(audio) > 2 * PART
    assert bucket.calls == {"create": 1, "upload_part": 3, "complete": 1}
    assert job.etag is not None and job.etag.endswith("-3")
    assert bucket.in_progress() == [] and tmp_keys(bucket) == []  # chunks and upload records are gone


async def test_a_crash_between_parts_resumes_the_upload_without_synthesizing_again(
    deps: Dependencies, clock: FakeClock, bucket: MemoryBucket, synth: ChunkSynth
) -> None:
    await queued(deps, clock, text=TEXT)
    bucket.fail_part_numbers = {2}  # part 1 is up, then the Worker "dies" uploading part 2
    assert isinstance((await process_batch([message()], deps)).outcomes["m1"], Retry)
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.QUEUED and "part 2" in (job.error or "")
    assert len(bucket.in_progress()) == 1
    plan = plan_id(job, chunk_texts(TEXT, LIMIT), LIMIT)
    assert upload_record_key(JOB, plan) in bucket.objects and f"{upload_record_key(JOB, plan)}/00001" in bucket.objects
    calls = len(synth.texts)

    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert len(synth.texts) == calls  # every chunk was stored: nothing synthesized again
    assert bucket.calls["create"] == 1  # the same upload, carried on ...
    assert bucket.calls["upload_part"] == 1 + 1 + 2  # ... from part 2: part 1 was not uploaded again
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED
    assert bucket.objects[job.audio_key].data[44:] == await expected_samples()  # type: ignore[index]
    assert bucket.in_progress() == [] and tmp_keys(bucket) == []


async def test_an_upload_of_other_bytes_is_aborted_and_started_again(
    deps: Dependencies, clock: FakeClock, bucket: MemoryBucket
) -> None:
    await queued(deps, clock, text=TEXT)
    bucket.fail_part_numbers = {2}
    await process_batch([message()], deps)
    (stale,) = bucket.in_progress()
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None
    record = bucket.objects[upload_record_key(JOB, plan_id(job, chunk_texts(TEXT, LIMIT), LIMIT))]
    record.info.custom_metadata["digest"] = "0" * 16  # as if a chunk had been synthesized again since
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert bucket.uploads[stale].state == "aborted" and bucket.calls["create"] == 2
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED
    assert bucket.objects[job.audio_key].data[44:] == await expected_samples()  # type: ignore[index]
    assert bucket.in_progress() == [] and tmp_keys(bucket) == []


async def test_an_upload_gone_from_r2_restarts_once(deps: Dependencies, clock: FakeClock, bucket: MemoryBucket) -> None:
    await queued(deps, clock, text=TEXT)
    bucket.fail_part_numbers = {2}
    await process_batch([message()], deps)
    (stale,) = bucket.in_progress()
    bucket.uploads[stale].state = "aborted"  # the lifecycle rule aborted it meanwhile
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and bucket.calls["create"] == 2
    assert bucket.objects[job.audio_key].data[44:] == await expected_samples()  # type: ignore[index]


async def test_a_failed_job_aborts_its_upload(deps: Dependencies, clock: FakeClock, bucket: MemoryBucket) -> None:
    await queued(deps, clock, text=TEXT)
    bucket.fail_part_numbers = {2}
    await process_batch([message()], deps)
    assert len(bucket.in_progress()) == 1

    async def cancel(number: int) -> None:
        await deps.jobs.call(Cancel(job_id=JOB))

    bucket.before_part = cancel  # canceled while the retry assembles
    deps.settings = replace(deps.settings, retry_base_seconds=10, lease_seconds=120)
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.CANCELED and job.audio_key is None
    assert bucket.calls["upload_part"] == 1 + 1 + 1  # stopped before part 3
    assert not any(k.startswith("audio/") for k in bucket.objects)
    assert bucket.in_progress() == [] and tmp_keys(bucket) == []  # aborted, records and chunks deleted


async def test_a_completed_upload_whose_job_did_not_complete_is_not_uploaded_again(
    deps: Dependencies, clock: FakeClock, bucket: MemoryBucket, shards: MemoryShards
) -> None:
    await queued(deps, clock, text=TEXT)
    real_call = deps.jobs.call
    calls = 0

    async def die_once(operation: Any, **kwargs: Any) -> Any:
        nonlocal calls
        if isinstance(operation, CompleteBatch):
            calls += 1
            if calls == 1:
                raise ConnectionError("the shard call died after the upload completed")
        return await real_call(operation, **kwargs)

    deps.jobs.call = die_once  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        await process_batch([message()], deps)
    await deps.jobs.call(Release(job_id=JOB, error="died"))
    parts_before = bucket.calls["upload_part"]
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert bucket.calls["upload_part"] == parts_before and bucket.calls["create"] == 1  # found by its digest
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED


def test_part_size_grows_only_past_10000_parts() -> None:
    assert part_size_for(2 * 1024**3) == 8 * MIB  # 256 parts
    assert part_size_for(10_000 * 8 * MIB) == 8 * MIB
    big = part_size_for(10_000 * 8 * MIB + 1)
    assert big == 9 * MIB and -(-(10_000 * 8 * MIB + 1) // big) <= 10_000


async def test_assembly_memory_is_one_part_and_one_read_not_the_whole_audio(tmp_path: Path) -> None:
    """40 MB of WAV assembled from 10 stored chunks into a local bucket, traced: the peak stays near 3 parts."""
    bucket = LocalBucket(tmp_path / "r2")
    kind = AudioKind("wav", 24000)
    tone = ToneSynthesizer()
    chunks, layouts = [], []
    for i in range(10):
        audio = (await tone.synthesize(SynthesisRequest("abcdefghij" * 140, "tone", None, "wav", 24000))).audio
        info = await bucket.put(f"tmp/{JOB}/p/{i:05d}", audio, content_type="audio/wav", custom_metadata={})
        chunks.append(Chunk(info.key, info.etag))
        layouts.append(part_layout(kind, audio))
        del audio
    layout = join_layout(kind, layouts)
    assert layout.size > 7 * PART

    async def ours() -> None:
        return None

    tracemalloc.start()
    try:
        info = await assemble(
            bucket, job_id=JOB, plan="p" * 16, key=f"audio/2026/12/02/{JOB}.wav", layout=layout, chunks=chunks,
            content_type="audio/wav", metadata={}, record_metadata={"jobId": JOB}, still_ours=ours,
            log=JsonLogger("t", io.StringIO()), part_bytes=PART,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == layout.size
    print(f"assembly peak {peak} bytes for {layout.size} bytes of audio")
    assert peak < 4 * PART, f"peak {peak} bytes for {layout.size} bytes of audio"  # not the 40 MB
    body = await bucket.get(info.key)
    assert body is not None and parse_wav(await body.read()).pcm_length == layout.size - 44
    bucket.close()
