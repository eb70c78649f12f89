"""Opus, AAC and FLAC from the offline models' PCM through PyAV (local_runtime/audio_encoders.py), and a long
job in one of them: its chunks' PCM joined and encoded once (shared/synthesis/encoded_assembly.py)."""

from __future__ import annotations

import io
import struct

import pytest

from local_runtime.audio_encoders import CODECS, AvFormatEncoder, load_encoders
from shared.config import Settings
from shared.consumer import process_batch
from shared.jobs.shard import Create, Get
from shared.jobs.sharding import shard_for
from shared.keys import TMP_PREFIX
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack
from shared.ports import IncomingMessage, SynthesisRequest
from shared.audio.kinds import identify
from shared.text.chunking import chunk_texts
from shared.synthesis.encoding import EncodingSynthesizer
from shared.synthesis.providers import build_catalogue
from shared.synthesis.tone import ToneSynthesizer
from tests.fakes import FakeClock, MemoryBucket, MemoryShards, bootstrap_test_app

av = pytest.importorskip("av", reason="PyAV is a dependency of the project: pip install -e .")

MAGIC = {"opus": b"OggS", "flac": b"fLaC"}


def decode(data: bytes) -> tuple[list[int], int]:
    """Samples (as 16-bit ints, at the file's own rate) and that rate, by FFmpeg's decoders."""
    container = av.open(io.BytesIO(data))
    out: list[int] = []
    rate = 0
    resampler = av.AudioResampler(format="s16", layout="mono")
    for frame in container.decode(audio=0):
        rate = frame.sample_rate
        for converted in resampler.resample(frame):
            out.extend(struct.unpack(f"<{converted.samples}h", bytes(converted.planes[0])[: converted.samples * 2]))
    return out, rate


def click(rate: int, at: int, seconds: float = 1.0) -> bytes:
    samples = [0] * int(rate * seconds)
    samples[at] = 30000
    return struct.pack(f"<{len(samples)}h", *samples)


@pytest.mark.parametrize("fmt", sorted(CODECS))
@pytest.mark.parametrize("rate", [22050, 24000])
def test_a_click_decodes_where_the_encoders_delay_says(fmt: str, rate: int) -> None:
    encoder = AvFormatEncoder(fmt)
    data = encoder.encode(click(rate, 5000), rate)
    assert identify(data, fmt, rate).format == fmt
    if fmt in MAGIC:
        assert data[:4] == MAGIC[fmt]
    else:
        assert data[0] == 0xFF and data[1] & 0xF6 == 0xF0  # ADTS sync word
    samples, decoded_rate = decode(data)
    peak = max(range(len(samples)), key=lambda i: abs(samples[i]))
    assert peak * rate / decoded_rate == pytest.approx(5000 + encoder.delay_samples, abs=1.5)


def test_flac_is_lossless_and_its_header_counts_the_samples_of_a_stream() -> None:
    pcm = struct.pack("<4000h", *[(i * 37) % 2000 - 1000 for i in range(4000)])
    stream = AvFormatEncoder("flac").stream(16000, 4000)
    data = b"".join([stream.write(pcm[:3001]), stream.write(pcm[3001:]), stream.finish()])  # an odd split too
    total = int.from_bytes(data[8 + 13 : 8 + 18], "big") & ((1 << 36) - 1)
    assert total == 4000
    samples, rate = decode(data)
    assert rate == 16000 and struct.pack(f"<{len(samples)}h", *samples) == pcm


def test_opus_at_a_rate_opus_lacks_is_resampled_keeping_the_length() -> None:
    data = AvFormatEncoder("opus").encode(click(22050, 100, seconds=2.0), 22050)
    samples, rate = decode(data)
    assert rate == 48000 and len(samples) == pytest.approx(96000, abs=960)


async def test_the_offline_models_offer_every_format_and_make_each() -> None:
    catalogue = build_catalogue(Settings(), http=None, encoders=load_encoders())
    tone = catalogue.get("tone")
    assert {"mp3", "opus", "aac", "flac", "wav", "pcm"} <= set(tone.formats)
    assert set(tone.encoded_formats) == {"opus", "aac", "flac"}
    synth = catalogue.synthesizer_for("tone")
    for fmt in ("opus", "aac", "flac"):
        result = await synth.synthesize(SynthesisRequest("Hello", "tone", None, fmt, 24000, timestamps=True))
        assert identify(result.audio, fmt, 24000).format == fmt and result.extension == fmt
        words = ToneSynthesizer().word_timings("Hello", 24000)
        assert result.words is not None
        assert result.words[0].start == pytest.approx(words[0].start + CODECS[fmt].delay_samples / 24000)


# --- a long job ------------------------------------------------------------------------------

JOB = "e" * 32
TEXT = " ".join(f"Sentence number {i} is here, and it has a clause." for i in range(9))


@pytest.mark.parametrize("fmt", ["flac", "opus"])
async def test_a_long_job_keeps_pcm_chunks_and_encodes_the_joined_pcm_once(
    shards: MemoryShards, clock: FakeClock, fmt: str
) -> None:
    catalogue = build_catalogue(Settings(), http=None, encoders=load_encoders())
    spec = catalogue.get("tone").model_copy(update={"max_input_chars": 60})
    synth = catalogue.synthesizer_for("tone")
    assert isinstance(synth, EncodingSynthesizer)
    bucket = MemoryBucket(clock)
    deps = bootstrap_test_app(
        Settings(retry_base_seconds=10, lease_seconds=120, max_audio_bytes=10_000_000, chunk_fanout=False),
        clock=clock, shards=shards, bucket=bucket, synthesizer=synth, spec=spec, log_stream=io.StringIO(),
    )
    await deps.jobs.call(
        Create(
            record=JobRecord(
        job_id=JOB, tenant="t", status=JobStatus.QUEUED, text=TEXT, model="tone", voice_id="default",
        format=fmt, sample_rate=24000, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
        timestamps="word",
    ),
        )
    )
    message = IncomingMessage(id="m1", body={"v": 1, "jobId": JOB, "shard": shard_for(JOB, 2)}, attempts=1)
    assert (await process_batch([message], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    chunks = chunk_texts(TEXT, 60)
    assert job is not None and job.status is JobStatus.COMPLETED, job
    assert job.progress_total == len(chunks) > 5 and job.audio_key is not None and job.audio_key.endswith("." + fmt)
    audio = bucket.objects[job.audio_key].data
    pcm = b"".join([ToneSynthesizer().render_pcm(c, sample_rate=24000) for c in chunks])
    samples, rate = decode(audio)
    if fmt == "flac":  # lossless: the joined PCM exactly
        assert struct.pack(f"<{len(samples)}h", *samples) == pcm
    else:
        assert len(samples) * 24000 / rate == pytest.approx(len(pcm) / 2, abs=960)
    assert not [k for k in bucket.objects if k.startswith(TMP_PREFIX)]  # chunks and the upload record are gone


# --- a rendered job (SSML) with pauses in an encoded format ----------------------------------------

@pytest.mark.parametrize(
    ("ssml", "parts"),
    [
        # two requests, 2 s between them: PCM chunks with the silence, joined, encoded once
        ('<speak>ab <break time="2s"/>cd</speak>', [("ab", 48_000), ("cd", 0)]),
        # one request with a closing break: padded in PCM, encoded in memory
        ('<speak>ab<break time="1s"/></speak>', [("ab", 24_000)]),
    ],
)
@pytest.mark.parametrize("fmt", ["flac", "opus"])
async def test_a_rendered_jobs_pauses_go_into_the_pcm_before_it_is_encoded(
    shards: MemoryShards, clock: FakeClock, fmt: str, ssml: str, parts: list[tuple[str, int]]
) -> None:
    # A job id per case: a job's plan is cached per isolate by its id (its text never changes).
    job_id = f"{len(parts)}{'a' if fmt == 'flac' else 'b'}".ljust(32, "f")
    catalogue = build_catalogue(Settings(), http=None, encoders=load_encoders())
    spec = catalogue.get("tone")
    synth = catalogue.synthesizer_for("tone")
    bucket = MemoryBucket(clock)
    deps = bootstrap_test_app(
        Settings(retry_base_seconds=10, lease_seconds=120, max_audio_bytes=10_000_000, chunk_fanout=False),
        clock=clock, shards=shards, bucket=bucket, synthesizer=synth, spec=spec, log_stream=io.StringIO(),
    )
    await deps.jobs.call(
        Create(
            record=JobRecord(
        job_id=job_id, tenant="t", status=JobStatus.QUEUED, text=ssml, text_type="ssml", model="tone",
        voice_id="default", format=fmt, sample_rate=24000, created_at=clock.now, updated_at=clock.now,
        ttl_seconds=3600, timestamps="word",
    ),
        )
    )
    message = IncomingMessage(id="m1", body={"v": 1, "jobId": job_id, "shard": shard_for(job_id, 2)}, attempts=1)
    assert (await process_batch([message], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=job_id))
    assert job is not None and job.status is JobStatus.COMPLETED, job
    assert job.audio_key is not None and job.audio_key.endswith("." + fmt)
    audio = bucket.objects[job.audio_key].data
    assert audio[:4] == MAGIC[fmt]
    tone = ToneSynthesizer()
    pcm = b"".join(tone.render_pcm(text, sample_rate=24000) + bytes(2 * silence) for text, silence in parts)
    samples, rate = decode(audio)
    if fmt == "flac":  # lossless: the speech and its silence, to the sample
        assert struct.pack(f"<{len(samples)}h", *samples) == pcm
    else:
        assert len(samples) * 24000 / rate == pytest.approx(len(pcm) / 2, abs=960)
    assert not [k for k in bucket.objects if k.startswith(TMP_PREFIX)]


async def test_inputs_in_flac_are_joined_with_their_gaps_before_one_encoding_and_have_times_but_no_bytes(
    shards: MemoryShards, clock: FakeClock
) -> None:
    import json as json_

    from shared.keys import timings_key
    from shared.models import JobInput
    from shared.synthesis.inputs import encode_inputs

    catalogue = build_catalogue(Settings(), http=None, encoders=load_encoders())
    spec = catalogue.get("tone").model_copy(update={"max_input_chars": 60})
    synth = catalogue.synthesizer_for("tone")
    bucket = MemoryBucket(clock)
    deps = bootstrap_test_app(
        Settings(retry_base_seconds=10, lease_seconds=120, max_audio_bytes=10_000_000, chunk_fanout=False),
        clock=clock, shards=shards, bucket=bucket, synthesizer=synth, spec=spec, log_stream=io.StringIO(),
    )
    inputs = [JobInput(text="Hello Bob, how are you?", voice_id="low"), JobInput(text=TEXT, voice_id="high")]
    await deps.jobs.call(Create(record=JobRecord(
        job_id=JOB, tenant="t", status=JobStatus.QUEUED, text="\n\n".join(i.text for i in inputs), model="tone",
        voice_id="default", format="flac", sample_rate=24000, created_at=clock.now, updated_at=clock.now,
        ttl_seconds=3600, inputs=encode_inputs(inputs), input_count=2, gap_ms=250,
    )))
    message = IncomingMessage(id="m1", body={"v": 1, "jobId": JOB, "shard": shard_for(JOB, 2)}, attempts=1)
    assert (await process_batch([message], deps)).outcomes == {"m1": Ack()}
    job = await deps.jobs.call(Get(job_id=JOB))
    assert job is not None and job.status is JobStatus.COMPLETED and job.audio_key is not None
    tone = ToneSynthesizer()
    parts = [b"".join(tone.render_pcm(c, voice=i.voice_id, sample_rate=24000) for c in chunk_texts(i.text, 60))
             for i in inputs]
    samples, _ = decode(bucket.objects[job.audio_key].data)
    assert struct.pack(f"<{len(samples)}h", *samples) == parts[0] + bytes(250 * 24 * 2) + parts[1]  # lossless
    chapters = json_.loads(bucket.objects[timings_key(JOB, job.created_at)].data)["chapters"]
    delay = CODECS["flac"].delay_samples
    assert round(chapters[1]["start"] * 24000) == delay + len(parts[0]) // 2 + 250 * 24
    assert "byteStart" not in chapters[1]  # encoded once: no bytes of its own
