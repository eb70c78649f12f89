"""Multi-input jobs end to end in memory: submitted through the API, synthesized by the consumer (fanned
out into chunk tasks, or chunk by chunk), joined into one WAV whose chapters match each input's audio
sample for sample, captions with the chapters, ``?input=N`` serving one input as a WAV of its own."""

from __future__ import annotations

import io
import json
import struct

import pytest

from shared.api.app import ApiApp
from shared.config import Settings
from shared.consumer import process_batch
from shared.dependencies import Dependencies
from shared.http import HttpRequest
from shared.jobs.chunks import ChunkClaim, ChunkPlan, ChunkStored
from shared.jobs.shard import Claim, Complete, Create, Get
from shared.keys import timings_key
from shared.jobs.sharding import shard_for
from shared.outcomes import Retry
from shared.models import JobInput, JobRecord, JobStatus
from shared.ports import IncomingMessage, SynthesisRequest, SynthesisResult
from shared.synthesis.catalogue import tone_spec
from shared.synthesis.inputs import encode_inputs
from shared.text.chunking import chunk_texts
from shared.synthesis.tone import ToneSynthesizer
from tests.audio_samples import id3v2, mp3_file, mp3_frame
from tests.fakes import MemoryQueue, MemoryShards, bootstrap_test_app
from tests.unit.api.test_api_models_and_limits import TOKEN, app, call, data

RATE = 24_000
LONG = " ".join(f"Sentence number {i} of the second input is here." for i in range(50))  # over 2,000 chars: 2 chunks
INPUTS = [
    {"text": "Hello there, this is the first input.", "voiceId": "low", "title": "Intro"},
    {"text": LONG, "voiceId": "high"},
    {"text": "And the third one ends it.", "voiceId": "low", "title": "Outro"},
]
GAP_MS = 250


def consumer(
    api: ApiApp, shards: MemoryShards, *, fanout: bool, synthesizer: object = None, spec: object = None
) -> Dependencies:
    """The consumer: every model speaks through ``synthesizer`` (tone), with the api catalogue's specs unless ``spec``."""
    return bootstrap_test_app(
        Settings(chunk_fanout=fanout), clock=api.deps.clock, shards=shards, bucket=api.deps.bucket, queue=MemoryQueue(),
        synthesizer=synthesizer or ToneSynthesizer(), spec=spec or api.deps.catalogue.get, log_stream=io.StringIO(),
    )


async def run(deps: Dependencies, job_id: str) -> None:
    """Deliver the job message, then everything it sends, until the queue is empty."""
    queue = deps.queue
    assert isinstance(queue, MemoryQueue)
    pending = [{"v": 1, "jobId": job_id, "shard": shard_for(job_id, 2)}]
    for n in range(100):
        if not pending:
            return
        body = pending.pop(0)
        message = IncomingMessage(id=f"m{n}", body=body, attempts=1)
        outcome = (await process_batch([message], deps)).outcomes[message.id]
        assert not isinstance(outcome, Retry), deps.log
        pending += [b for b, _ in queue.sent]  # type: ignore[misc]
        queue.sent.clear()
    raise AssertionError("the queue never emptied")


async def get(api: ApiApp, path: str) -> tuple[int, dict[str, str], bytes]:
    reply = await api.handle(HttpRequest.build("GET", path, headers={"Authorization": f"Bearer {TOKEN}"}))
    if reply.blob is not None:
        body = await reply.blob.read()
    elif reply.stream is not None:
        body = b"".join([block async for block in reply.stream])
    else:
        body = bytes(reply.body)
    return reply.status, dict(reply.headers.items()), body


def expected_pcm(item: dict[str, str]) -> bytes:
    """An input's audio as tone makes it: each of its chunks in its voice, one after the other."""
    tone = ToneSynthesizer()
    return b"".join(tone.render_pcm(c, voice=item["voiceId"], sample_rate=RATE) for c in chunk_texts(item["text"], 2000))


@pytest.mark.parametrize("fanout", [True, False], ids=["chunk-tasks", "chunk-by-chunk"])
async def test_three_inputs_two_voices_make_one_wav_with_exact_chapters(fanout: bool) -> None:
    api, shards = app()
    reply = await call(api, "POST", "/v1/jobs", {
        "inputs": INPUTS, "gapMs": GAP_MS, "model": "tone", "format": "wav", "sampleRate": RATE, "timestamps": "word",
    })
    assert reply.status == 202, reply.body
    job = data(reply)
    assert job["inputCount"] == 3 and job["gapMs"] == GAP_MS
    await run(consumer(api, shards, fanout=fanout), job["jobId"])
    done = data(await call(api, "GET", f"/v1/jobs/{job['jobId']}"))
    assert done["status"] == "completed", done
    assert done["progress"] == {"done": 4, "total": 4, "inputsDone": 3, "inputsTotal": 3}
    stored = await shards.client.call(Get(job_id=job["jobId"]))
    assert stored is not None and stored.progress_inputs == 3  # counted by the shard, not only by the view

    status, headers, wav = await get(api, f"/v1/jobs/{job['jobId']}/audio")
    assert status == 200 and wav[:4] == b"RIFF"
    parts = [expected_pcm(i) for i in INPUTS]
    gap = bytes(GAP_MS * RATE // 1000 * 2)
    assert wav[44:] == parts[0] + gap + parts[1] + gap + parts[2]  # every sample in place, the gaps exact

    status, _, raw = await get(api, f"/v1/jobs/{job['jobId']}/timestamps")
    assert status == 200
    chapters = json.loads(raw)["chapters"]
    assert [c["title"] for c in chapters] == ["Intro", "Input 2", "Outro"]
    assert [c["index"] for c in chapters] == [0, 1, 2]
    start = 0
    for chapter, pcm in zip(chapters, parts, strict=True):
        assert round(chapter["start"] * RATE) == start  # sample-exact
        assert round(chapter["end"] * RATE) == start + len(pcm) // 2
        assert chapter["byteEnd"] - chapter["byteStart"] == len(pcm)
        assert wav[chapter["byteStart"] : chapter["byteEnd"]] == pcm
        start += len(pcm) // 2 + len(gap) // 2
    words = json.loads(raw)["words"]
    text = "\n\n".join(i["text"] for i in INPUTS)
    assert all(text[w["charStart"] : w["charEnd"]] == w["word"] for w in words)
    third = [w for w in words if w["charStart"] >= chapters[2]["charStart"]]
    assert third[0]["word"] == "And" and third[0]["start"] >= chapters[2]["start"]

    status, headers, part = await get(api, f"/v1/jobs/{job['jobId']}/audio?input=2")
    assert status == 200 and headers["Content-Type"].startswith("audio/wav"), part
    assert part[44:] == parts[2] and struct.unpack_from("<I", part, 40)[0] == len(parts[2])
    assert struct.unpack_from("<HI", part, 22) == (1, RATE)
    assert headers["Content-Disposition"].endswith(f'{job["jobId"]}-input2.wav"')

    status, _, vtt = await get(api, f"/v1/jobs/{job['jobId']}/captions.vtt")
    assert status == 200 and "NOTE chapter 2: Outro (" in vtt.decode()
    status, _, track = await get(api, f"/v1/jobs/{job['jobId']}/captions.vtt?kind=chapters")
    assert status == 200 and track.decode().startswith("WEBVTT\n\nchapter-0\n00:00:00.000 --> ")
    assert "\nchapter-2\n" in track.decode() and track.decode().count(" --> ") == 3


async def test_inputs_without_word_timings_still_have_chapters_and_parts() -> None:
    api, shards = app()
    inputs = [{"text": "One two.", "voiceId": "low"}, {"text": "Three four five.", "voiceId": "high"}]
    reply = await call(api, "POST", "/v1/jobs", {"inputs": inputs, "model": "tone", "format": "pcm", "sampleRate": RATE})
    job_id = data(reply)["jobId"]
    await run(consumer(api, shards, fanout=True), job_id)
    status, _, pcm = await get(api, f"/v1/jobs/{job_id}/audio")
    parts = [expected_pcm(i) for i in inputs]
    assert status == 200 and pcm == parts[0] + parts[1]  # no gap asked: none
    status, _, raw = await get(api, f"/v1/jobs/{job_id}/timestamps")
    document = json.loads(raw)
    assert status == 200 and document["words"] == [] and len(document["chapters"]) == 2
    assert round(document["chapters"][1]["start"] * RATE) == len(parts[0]) // 2
    status, headers, second = await get(api, f"/v1/jobs/{job_id}/audio?input=1")
    assert status == 200 and second == parts[1] and headers["Content-Length"] == str(len(parts[1]))
    status, _, body = await get(api, f"/v1/jobs/{job_id}/audio?input=2")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_input"
    status, _, body = await get(api, f"/v1/jobs/{job_id}/audio?input=x")
    assert status == 400 and json.loads(body)["error"]["field"] == "input"


async def test_input_of_a_job_with_one_text_is_a_clear_400() -> None:
    api, _ = app()
    job_id = data(await call(api, "POST", "/v1/jobs", {"text": "Hi.", "model": "tone"}))["jobId"]
    status, _, body = await get(api, f"/v1/jobs/{job_id}/audio?input=0")
    assert status == 400 and "submitted with text" in json.loads(body)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"text": "a", "inputs": [{"text": "b"}]}, "inputs", "exactly one of text and inputs"),
        ({"model": "tone"}, "text", "text is required (or inputs"),
        ({"text": "a", "gapMs": 10}, "gapMs", "gapMs goes with inputs"),
        ({"inputs": []}, "inputs", "at least 1"),
        ({"inputs": [{"text": "a"}] * 1001}, "inputs", "at most 1000"),
        ({"inputs": [{"text": "a"}], "gapMs": 10_001}, "gapMs", "less than or equal to 10000"),
        ({"inputs": [{"text": "a"}], "gapMs": -1}, "gapMs", "greater than or equal to 0"),
        ({"inputs": [{"text": "a", "voice": "x"}]}, "inputs.0.voice", "Extra inputs"),
        ({"inputs": [{"text": "a"}, {"text": "  "}]}, "inputs.1.text", "must not be blank"),
        ({"inputs": [{"text": "a", "voiceId": "nobody"}], "model": "tone"}, "inputs.0.voiceId", "no voice 'nobody'"),
        ({"inputs": [{"text": "a"}], "textType": "ssml"}, "textType", "inputs are plain text"),
        ({"inputs": [{"text": "a"}], "lexicons": ["names"]}, "lexicons", "inputs are plain text"),
        ({"inputs": [{"text": "a" * 60}, {"text": "b" * 50}]}, "inputs", "over the limit of 100"),
    ],
)
async def test_bad_inputs_are_a_clear_422_naming_the_problem(body: dict, field: str | None, words: str) -> None:
    api, _ = app(MAX_TEXT_CHARS="100")
    reply = await call(api, "POST", "/v1/jobs", body)
    error = data(reply)["error"]
    assert reply.status == 422, error
    assert words in error["message"] and error.get("field") == field


async def test_a_format_that_cannot_be_joined_is_refused_for_inputs() -> None:
    api, _ = app(OPENAI_API_KEY="k")  # OpenAI's opus files cannot be joined, and nothing here encodes them
    reply = await call(api, "POST", "/v1/jobs", {"inputs": [{"text": "a"}], "model": "openai/tts-1", "format": "opus"})
    error = data(reply)["error"]
    assert reply.status == 422 and error["field"] == "format" and "cannot be joined" in error["message"]
    assert "mp3" in error["allowed"] and "opus" not in error["allowed"]


class Mp3Frames:
    """MP3 of one frame per character, every payload byte the voice's tag; an ID3 tag and a Xing frame first."""

    name = "fake-mp3"
    TAGS = {"low": 0x11, "high": 0x22}

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        audio = mp3_file([self.TAGS[request.voice or "low"]] * len(request.text), id3=True, xing=True)
        return SynthesisResult(audio=audio, mime_type="audio/mpeg", extension="mp3", characters=len(request.text))


async def test_mp3_inputs_are_cut_at_their_own_frames_and_the_gap_is_whole_silent_frames() -> None:
    api, shards = app()
    spec = tone_spec().model_copy(update={"id": "fake/mp3", "formats": ["mp3"], "default_format": "mp3",
                                          "max_input_chars": 20})
    inputs = [JobInput(text="Hi Bob.", voice_id="low"), JobInput(text="Hello Alice, how are you today?", voice_id="high")]
    now = api.deps.clock()
    record = await shards.client.call(Create(record=JobRecord(
        job_id="e" * 32, tenant="alice", status=JobStatus.QUEUED, text="\n\n".join(i.text for i in inputs),
        model="fake/mp3", voice_id="low", format="mp3", created_at=now, updated_at=now, ttl_seconds=3600,
        inputs=encode_inputs(inputs), input_count=2, gap_ms=100,
    )))
    deps = consumer(api, shards, fanout=True, synthesizer=Mp3Frames(), spec=spec)
    await run(deps, record.job_id)
    status, _, joined = await get(api, f"/v1/jobs/{record.job_id}/audio")
    assert status == 200
    frame = len(mp3_frame(0))
    assert joined.startswith(id3v2()) and b"Xing" not in joined  # the first chunk's tag kept, every Xing frame dropped
    status, _, raw = await get(api, f"/v1/jobs/{record.job_id}/timestamps")
    chapters = json.loads(raw)["chapters"]
    first, second = (chunk_texts(i.text, 20) for i in inputs)
    first_frames, second_frames = sum(map(len, first)), sum(map(len, second))
    gap_frames = 4  # 100 ms at 44.1 kHz, in frames of 1,152 samples: 4.3, so 4
    assert chapters[0]["byteStart"] == len(id3v2()) and chapters[0]["byteEnd"] - chapters[0]["byteStart"] == first_frames * frame
    assert joined[chapters[0]["byteStart"] : chapters[0]["byteEnd"]] == mp3_frame(0x11) * first_frames
    assert chapters[1]["byteStart"] == chapters[0]["byteEnd"] + gap_frames * frame
    assert round(chapters[1]["start"] * 44_100) == (first_frames + gap_frames) * 1152
    assert round(chapters[1]["end"] * 44_100) == (first_frames + gap_frames + second_frames) * 1152
    status, headers, part = await get(api, f"/v1/jobs/{record.job_id}/audio?input=1")
    assert status == 200 and part == mp3_frame(0x22) * second_frames and headers["Content-Type"] == "audio/mpeg"


async def test_inputs_are_counted_as_their_chunks_are_stored_in_any_order() -> None:
    api, shards = app()
    reply = await call(api, "POST", "/v1/jobs", {"inputs": [{"text": "a"}, {"text": "b"}, {"text": "c"}], "model": "tone"})
    job_id = data(reply)["jobId"]
    assert (await shards.client.call(Get(job_id=job_id))).input_chunks == "1,2,3"  # type: ignore[union-attr]
    await shards.client.call(Claim(job_id=job_id, lease_seconds=60, holder="m0"))
    await shards.client.call(ChunkPlan(job_id=job_id, plan="p" * 16, total=3, holder="m0", stored=[2], lease_seconds=60))
    view = data(await call(api, "GET", f"/v1/jobs/{job_id}"))
    assert view["progress"] == {"done": 1, "total": 3, "inputsDone": 1, "inputsTotal": 3}
    await shards.client.call(
        ChunkClaim(job_id=job_id, plan="p" * 16, index=0, holder="m1", lease_seconds=60, job_lease_seconds=60)
    )
    await shards.client.call(ChunkStored(job_id=job_id, plan="p" * 16, index=0, characters=1, job_lease_seconds=60))
    view = data(await call(api, "GET", f"/v1/jobs/{job_id}"))
    assert view["progress"] == {"done": 2, "total": 3, "inputsDone": 2, "inputsTotal": 3}


async def test_an_input_of_audio_encoded_once_is_a_clear_409() -> None:
    api, shards = app()
    now = api.deps.clock()
    job_id = "d" * 32
    await shards.client.call(Create(record=JobRecord(
        job_id=job_id, tenant="alice", status=JobStatus.QUEUED, text="a\n\nb", model="tone", format="flac",
        created_at=now, updated_at=now, ttl_seconds=3600, input_count=2,
        inputs=encode_inputs([JobInput(text="a"), JobInput(text="b")]),
    )))
    document = {"v": 1, "jobId": job_id, "model": "tone", "timings": "exact", "method": "chapters only", "words": [],
                "chapters": [{"index": i, "title": f"Input {i + 1}", "start": i, "end": i + 0.5, "charStart": 3 * i,
                              "charEnd": 3 * i + 1} for i in range(2)]}
    await api.deps.bucket.put(timings_key(job_id, now), json.dumps(document).encode(), content_type="application/json",
                              custom_metadata={})
    info = await api.deps.bucket.put("audio/x.flac", b"fLaC", content_type="audio/flac", custom_metadata={})
    await shards.client.call(Claim(job_id=job_id, lease_seconds=60))
    await shards.client.call(Complete(job_id=job_id, audio_key="audio/x.flac", mime_type="audio/flac", size_bytes=4,
                                      etag=info.etag))
    status, _, body = await get(api, f"/v1/jobs/{job_id}/audio?input=1")
    assert status == 409 and json.loads(body)["error"]["code"] == "input_not_separable"
    status, _, track = await get(api, f"/v1/jobs/{job_id}/captions.vtt?kind=chapters")
    assert status == 200 and "chapter-1\n00:00:01.000 --> 00:00:01.500\nInput 2" in track.decode()
    status, _, body = await get(api, f"/v1/jobs/{job_id}/captions.srt?kind=chapters")
    assert status == 400 and json.loads(body)["error"]["code"] == "invalid_kind"


class CountingTone:
    """Tone, counting the provider calls and the voice of each."""

    name = "tone"

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.calls.append((request.text, request.voice))
        return await ToneSynthesizer().synthesize(request)


@pytest.mark.parametrize("fanout", [True, False], ids=["chunk-tasks", "chunk-by-chunk"])
async def test_the_synthesis_cache_works_per_input_chunk_under_each_inputs_voice(fanout: bool) -> None:
    api, shards = app()
    tone = CountingTone()
    deps = consumer(api, shards, fanout=fanout, synthesizer=tone)
    dialogue = [{"text": "Hello Bob.", "voiceId": "low"}, {"text": LONG, "voiceId": "high"}, {"text": "Bye.", "voiceId": "low"}]

    async def job(inputs: list[dict[str, str]], **fields: object) -> dict[str, object]:
        reply = await call(api, "POST", "/v1/jobs", {"inputs": inputs, "model": "tone", "format": "wav",
                                                     "sampleRate": RATE, **fields})
        assert reply.status == 202, reply.body
        await run(deps, data(reply)["jobId"])
        return data(await call(api, "GET", f"/v1/jobs/{data(reply)['jobId']}"))

    first = await job(dialogue)
    assert len(tone.calls) == 4 and first["cache"] == {"hit": False, "chunksReused": 0, "chunksTotal": 4}
    again = await job(dialogue)  # every chunk reused: no provider call, the same audio and chapters
    assert len(tone.calls) == 4 and again["cache"] == {"hit": True, "chunksReused": 4, "chunksTotal": 4}
    audio = [(await get(api, f"/v1/jobs/{j['jobId']}/audio"))[2] for j in (first, again)]
    assert audio[0] == audio[1]
    status, _, part = await get(api, f"/v1/jobs/{again['jobId']}/audio?input=2")
    assert status == 200 and part[44:] == expected_pcm(dialogue[2])

    swapped = [{**i, "voiceId": "high" if i["voiceId"] == "low" else "low"} for i in dialogue]
    await job(swapped)  # the same texts in other voices: nothing reused
    assert len(tone.calls) == 8 and [v for _, v in tone.calls[4:]].count("high") == 2

    # With a gap, the last chunk of each input but the last gets it: those two are this job's own (not cached),
    # the other two (the long input's first chunk, the last input) are reused.
    gapped = await job(dialogue, gapMs=200)
    assert len(tone.calls) == 10 and gapped["cache"]["chunksReused"] == 2  # type: ignore[index]
    _, _, wav = await get(api, f"/v1/jobs/{gapped['jobId']}/audio")
    gap = bytes(200 * RATE // 1000 * 2)
    parts = [expected_pcm(i) for i in dialogue]
    assert wav[44:] == parts[0] + gap + parts[1] + gap + parts[2]
