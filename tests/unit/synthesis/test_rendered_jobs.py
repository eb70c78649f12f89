"""Jobs with SSML or lexicons through the consumer, on ``tone`` (60 ms a character, exact): an alias
lengthens the audio by exactly its added characters' slots, a break adds exactly its samples, long
SSML is chunked with every pause kept, captions show the words as written, and a job reads the
lexicon version it was submitted with."""

from __future__ import annotations

import io
import json
from dataclasses import replace

import pytest

from shared.config import Settings
from shared.consumer import process_batch
from shared.dependencies import Dependencies
from shared.jobs.lexicons import LexiconPut
from shared.jobs.shard import Create, Get
from shared.keys import TMP_PREFIX, timings_key
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack
from shared.ports import SynthesisRequest, SynthesisResult
from shared.synthesis import speech_plan
from shared.synthesis.catalogue import tone_spec
from shared.synthesis.tone import ToneSynthesizer
from shared.audio.wav import parse_wav
from shared.text.lexicon import format_refs, lexicon_from_json
from tests.fakes import FakeClock, MemoryShards, bootstrap_test_app
from tests.unit.synthesis.test_longform import JOB, message

SLOT = 1440  # samples of one character at 24 kHz
TENANT = "t"
W3C = {"rules": [{"grapheme": "W3C", "alias": "World Wide Web Consortium"}]}


class Recording:
    """The real tone synthesizer, keeping each request."""

    name = "tone"

    def __init__(self) -> None:
        self.requests: list[SynthesisRequest] = []

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.requests.append(request)
        return await ToneSynthesizer().synthesize(request)


@pytest.fixture(autouse=True)
def fresh_caches() -> None:
    speech_plan._LEXICONS.clear()
    speech_plan._PLANS.clear()


def consumer(shards: MemoryShards, clock: FakeClock, synth: Recording, limit: int = 2000) -> Dependencies:
    model = tone_spec().model_copy(update={"max_input_chars": limit})
    settings = Settings(retry_base_seconds=10, lease_seconds=120, chunk_fanout=False)  # chunks in one delivery
    return bootstrap_test_app(settings, clock=clock, shards=shards, synthesizer=synth, spec=model, log_stream=io.StringIO())


async def put(shards: MemoryShards, clock: FakeClock, name: str, rules: dict) -> str:  # type: ignore[type-arg]
    lexicon = lexicon_from_json(rules)
    await shards.client.call(LexiconPut(
        tenant=TENANT, name=name, version=lexicon.version, format="json", source=json.dumps(rules),
        rules=lexicon.canonical(), rule_count=len(lexicon.rules), size_bytes=10, language=None, now=clock(),
        max_lexicons=20, keep_seconds=86_400,
    ))
    return lexicon.version


async def run(deps: Dependencies, clock: FakeClock, text: str, **fields: object) -> JobRecord:
    await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant=TENANT, status=JobStatus.QUEUED, text=text, model="tone", voice_id="default",
            format="wav", sample_rate=24000, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
            **fields,  # type: ignore[arg-type]
        ),
        )
    )
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    record = await deps.jobs.call(Get(job_id=JOB))
    assert record is not None
    return record


def frames(deps: Dependencies, record: JobRecord) -> int:
    assert record.status is JobStatus.COMPLETED, record.error
    info = parse_wav(deps.bucket.objects[record.audio_key].data)  # type: ignore[attr-defined,index]
    return info.pcm_length // info.frame_size


def timings(deps: Dependencies, record: JobRecord) -> dict:  # type: ignore[type-arg]
    return json.loads(deps.bucket.objects[timings_key(record.job_id, record.created_at)].data)  # type: ignore[attr-defined]


async def test_an_alias_lengthens_the_audio_by_exactly_its_added_characters(shards: MemoryShards, clock: FakeClock) -> None:
    synth = Recording()
    deps = consumer(shards, clock, synth)
    version = await put(shards, clock, "acronyms", W3C)
    record = await run(deps, clock, "The W3C met.", lexicons=format_refs([("acronyms", version)]), timestamps="word")
    assert [r.text for r in synth.requests] == ["The World Wide Web Consortium met."]
    assert frames(deps, record) == len("The W3C met.") * SLOT + (len("World Wide Web Consortium") - 3) * SLOT
    assert record.characters == len("The World Wide Web Consortium met.")  # what was sent (and billed)
    words = timings(deps, record)["words"]
    assert [w["word"] for w in words] == ["The", "W3C", "met."]
    w3c = words[1]
    assert (w3c["charStart"], w3c["charEnd"]) == (4, 7)
    assert w3c["start"] == pytest.approx(4 * 0.06)  # "World" starts after "The "
    assert w3c["end"] == pytest.approx((4 + 24) * 0.06 + 0.045)  # the tone of "Consortium"'s last letter ends


async def test_a_break_adds_exactly_its_silence(shards: MemoryShards, clock: FakeClock) -> None:
    synth = Recording()
    deps = consumer(shards, clock, synth)
    record = await run(deps, clock, "<speak>ab<break time='2s'/>cd</speak>", text_type="ssml", timestamps="word")
    assert [r.text for r in synth.requests] == ["ab", "cd"]
    assert frames(deps, record) == 4 * SLOT + 48_000  # 2.000 s at 24 kHz, to the sample
    audio = deps.bucket.objects[record.audio_key].data  # type: ignore[attr-defined,index]
    info = parse_wav(audio)
    silence = audio[info.pcm_offset + 2 * SLOT * 2 : info.pcm_offset + (2 * SLOT + 48_000) * 2]
    assert silence == bytes(96_000)
    words = timings(deps, record)["words"]
    assert [(w["word"], w["start"]) for w in words] == [("ab", 0.0), ("cd", pytest.approx(2.0 + 2 * 0.06))]
    source = "<speak>ab<break time='2s'/>cd</speak>"
    assert [source[w["charStart"] : w["charEnd"]] for w in words] == ["ab", "cd"]


async def test_long_ssml_is_chunked_and_every_pause_survives(shards: MemoryShards, clock: FakeClock) -> None:
    synth = Recording()
    deps = consumer(shards, clock, synth, limit=40)
    sentences = [f"Sentence {n} is short and plain." for n in range(5)]
    source = "<speak><p>" + "".join(f"<s>{s}</s>" for s in sentences) + "</p><break time='1s'/>The end.</speak>"
    record = await run(deps, clock, source, text_type="ssml", timestamps="word")
    assert [r.text for r in synth.requests] == [*sentences, "The end."]
    pauses = 4 * 600 + 1000  # sentence ends between the five; then the explicit break (it replaces the paragraph end)
    spoken = sum(len(s) for s in sentences) + len("The end.")
    assert frames(deps, record) == spoken * SLOT + pauses * 24
    assert (record.progress_done, record.progress_total) == (6, 6)
    doc = timings(deps, record)
    assert [w["word"] for w in doc["words"]] == " ".join([*sentences, "The end."]).split()
    last = doc["words"][-2]  # "The": after every sentence, pause and break before it
    assert last["start"] == pytest.approx(sum(len(s) for s in sentences) * 0.06 + pauses / 1000)
    assert all(source[w["charStart"] : w["charEnd"]] == w["word"] for w in doc["words"])
    assert not [k for k in deps.bucket.objects if k.startswith(TMP_PREFIX)]  # type: ignore[attr-defined]


async def test_a_job_reads_the_version_it_was_submitted_with(shards: MemoryShards, clock: FakeClock) -> None:
    synth = Recording()
    deps = consumer(shards, clock, synth)
    first = await put(shards, clock, "acronyms", W3C)
    await put(shards, clock, "acronyms", {"rules": [{"grapheme": "W3C", "alias": "W three C"}]})  # replaced meanwhile
    record = await run(deps, clock, "W3C", lexicons=format_refs([("acronyms", first)]))
    assert record.status is JobStatus.COMPLETED
    assert [r.text for r in synth.requests] == ["World Wide Web Consortium"]


async def test_a_version_no_longer_kept_fails_the_job_clearly(shards: MemoryShards, clock: FakeClock) -> None:
    deps = consumer(shards, clock, Recording())
    record = await run(deps, clock, "W3C", lexicons=format_refs([("gone", "0123456789abcdef")]))
    assert record.status is JobStatus.FAILED and "gone@0123456789abcdef is no longer kept" in (record.error or "")


async def test_a_plain_job_is_planned_as_before(shards: MemoryShards, clock: FakeClock) -> None:
    synth = Recording()
    deps = consumer(shards, clock, synth)
    record = await run(deps, clock, "  Plain text, no markup.  ")
    assert [r.text for r in synth.requests] == ["  Plain text, no markup.  "]  # one request, as it always was
    assert frames(deps, record) == len("  Plain text, no markup.  ") * SLOT


async def test_long_ssml_fans_out_into_chunk_tasks_with_its_pauses_and_captions(
    shards: MemoryShards, clock: FakeClock
) -> None:
    from shared.jobs.sharding import shard_for
    from tests.unit.core.test_fanout import drain, msg

    synth = Recording()
    deps = consumer(shards, clock, synth, limit=60)
    deps.settings = replace(deps.settings, chunk_fanout=True)  # a long job's chunks go out as chunk tasks (shared/fanout.py)
    version = await put(shards, clock, "acronyms", W3C)
    sentences = [f"The W3C sentence {n} is plain." for n in range(5)]
    source = "<speak>" + "".join(f"<s>{s}</s>" for s in sentences) + "<break time='2s'/></speak>"
    await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant=TENANT, status=JobStatus.QUEUED, text=source, model="tone", voice_id="default",
            format="wav", sample_rate=24000, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
            text_type="ssml", lexicons=format_refs([("acronyms", version)]), timestamps="word",
        ),
        )
    )
    seen = await drain(deps, [msg({"v": 1, "jobId": JOB, "shard": shard_for(JOB, 2)})])
    tasks = [body for body, _ in seen if body.get("chunks")]
    assert tasks and all(o == Ack() for _, o in seen)
    spoken = [s.replace("W3C", "World Wide Web Consortium") for s in sentences]
    assert sorted(r.text for r in synth.requests) == sorted(spoken)  # each request once, aliases applied
    record = await deps.jobs.call(Get(job_id=JOB))
    assert record is not None
    pauses = 4 * 600 + 2000
    assert frames(deps, record) == sum(len(s) for s in spoken) * SLOT + pauses * 24
    words = timings(deps, record)["words"]
    assert [w["word"] for w in words] == " ".join(sentences).split()
    second = next(w for w in words[5:] if w["word"] == "W3C")  # the second sentence's W3C
    assert second["start"] == pytest.approx((len(spoken[0]) + len("The ")) * 0.06 + 0.6)
