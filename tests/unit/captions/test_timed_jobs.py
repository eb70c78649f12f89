"""Jobs that asked for word timings, through the consumer: one request or many chunks, retries that
reuse the chunks' timings, the timings object beside the audio, and its cleanup with the chunks."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from shared.consumer import process_batch
from shared.dependencies import Dependencies
from shared.errors import TransientSynthesisError
from shared.jobs.shard import Create
from shared.keys import TMP_PREFIX, timings_key
from shared.models import JobRecord, JobStatus
from shared.outcomes import Ack, Retry
from shared.ports import SynthesisRequest, SynthesisResult
from shared.text.chunking import chunk_texts
from shared.synthesis.tone import ToneSynthesizer
from tests.fakes import FakeClock, MemoryShards
from tests.unit.synthesis.test_longform import JOB, LIMIT, TEXT, message, spec

pytestmark = pytest.mark.usefixtures("shards")


@dataclass
class TimedSynth:
    """Tone per request, with its exact timings when asked; ``words=False`` reports none (as a cloud model)."""

    name: str = "fake"
    texts: list[str] = field(default_factory=list)
    fail_at: dict[int, Exception] = field(default_factory=dict)
    words: bool = True

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        call = len(self.texts)
        self.texts.append(request.text)
        if call in self.fail_at:
            raise self.fail_at.pop(call)
        return await ToneSynthesizer().synthesize(
            SynthesisRequest(request.text, "tone", "default", request.format, request.sample_rate,
                             timestamps=request.timestamps and self.words)
        )


@pytest.fixture
def synth() -> TimedSynth:
    return TimedSynth()


async def queued(deps: Dependencies, clock: FakeClock, text: str = TEXT, fmt: str = "wav") -> JobRecord:
    return await deps.jobs.call(
        Create(
            record=JobRecord(
            job_id=JOB, tenant="t", status=JobStatus.QUEUED, text=text, model="fake/long", voice_id="default",
            format=fmt, sample_rate=24000, created_at=clock.now, updated_at=clock.now, ttl_seconds=3600,
            timestamps="word",
        ),
        )
    )


def stored_timings(deps: Dependencies, record: JobRecord) -> dict:  # type: ignore[type-arg]
    return json.loads(deps.bucket.objects[timings_key(record.job_id, record.created_at)].data)  # type: ignore[attr-defined]


async def test_a_chunked_job_gets_timings_of_the_whole_text(deps: Dependencies, clock: FakeClock, synth: TimedSynth) -> None:
    deps.catalogue.synthesizer = synth  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    job = await queued(deps, clock)
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    doc = stored_timings(deps, job)
    assert [w["word"] for w in doc["words"]] == TEXT.split()
    assert all(TEXT[w["charStart"] : w["charEnd"]] == w["word"] for w in doc["words"])
    # The chunks are joined without the whitespace between them: a word's start is 60 ms per
    # character of chunk text before it.
    chunks = chunk_texts(TEXT, LIMIT)
    sent_before = 0
    position = 0
    for chunk in chunks:
        position = TEXT.index(chunk, position)
        first = next(w for w in doc["words"] if w["charStart"] == position)
        assert first["start"] == pytest.approx(sent_before * 0.06, abs=1e-9)
        sent_before += len(chunk)
        position += len(chunk)
    assert doc["duration"] == pytest.approx(sent_before * 0.06)
    assert doc["timings"] == "estimated"  # the fake model's spec does not claim exact timings
    assert not [k for k in deps.bucket.objects if k.startswith(TMP_PREFIX)]  # type: ignore[attr-defined]


async def test_a_retry_reuses_the_stored_chunks_timings(deps: Dependencies, clock: FakeClock, synth: TimedSynth) -> None:
    deps.catalogue.synthesizer = synth  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    job = await queued(deps, clock)
    total = len(chunk_texts(TEXT, LIMIT))
    synth.fail_at[3] = TransientSynthesisError("429", retry_after=30)
    assert (await process_batch([message()], deps)).outcomes == {"m1": Retry(30)}
    kept = sorted(k for k in deps.bucket.objects if k.startswith(TMP_PREFIX))  # type: ignore[attr-defined]
    assert len(kept) == 6 and sum(k.endswith(".words.json") for k in kept) == 3
    before = len(synth.texts)
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert len(synth.texts) - before == total - 3
    assert [w["word"] for w in stored_timings(deps, job)["words"]] == TEXT.split()


async def test_a_chunk_stored_without_its_timings_is_synthesized_again(
    deps: Dependencies, clock: FakeClock, synth: TimedSynth
) -> None:
    deps.catalogue.synthesizer = synth  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    await queued(deps, clock)
    synth.fail_at[2] = TransientSynthesisError("429", retry_after=30)
    await process_batch([message()], deps)
    lost = next(k for k in deps.bucket.objects if k.endswith("00000.words.json"))  # type: ignore[attr-defined]
    await deps.bucket.delete([lost])
    before = len(synth.texts)
    assert (await process_batch([message(attempts=2, msg_id="m2")], deps)).outcomes == {"m2": Ack()}
    assert synth.texts[before] == chunk_texts(TEXT, LIMIT)[0]  # chunk 0 again, then the missing ones


async def test_a_model_without_word_events_gets_estimated_timings(
    deps: Dependencies, clock: FakeClock, synth: TimedSynth
) -> None:
    synth.words = False
    deps.catalogue.synthesizer = synth  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    job = await queued(deps, clock, text="Short text, one request.")
    assert (await process_batch([message()], deps)).outcomes == {"m1": Ack()}
    doc = stored_timings(deps, job)
    assert doc["timings"] == "estimated" and "estimated" in doc["method"]
    assert [w["word"] for w in doc["words"]] == ["Short", "text,", "one", "request."]
    assert doc["words"][-1]["end"] == pytest.approx(doc["duration"])


async def test_an_exact_model_says_so(deps: Dependencies, clock: FakeClock, synth: TimedSynth) -> None:
    exact = spec(timestamps="exact", timestamps_method="computed")
    deps.catalogue.synthesizer = synth  # type: ignore[attr-defined]  # tests.fakes.FakeCatalogue
    deps.catalogue.spec = exact  # type: ignore[attr-defined]
    job = await queued(deps, clock, text="Exact words.")
    await process_batch([message()], deps)
    doc = stored_timings(deps, job)
    assert (doc["timings"], doc["method"]) == ("exact", "computed")
    assert [(w["start"], w["end"]) for w in doc["words"]] == [(0.0, pytest.approx(4 * 0.06 + 0.045)), (0.36, pytest.approx(11 * 0.06 + 0.045))]


async def test_a_job_without_timestamps_writes_none(deps: Dependencies, clock: FakeClock, shards: MemoryShards) -> None:
    record = await queued(deps, clock)
    await deps.jobs.delete([JOB])
    plain = record.model_copy(update={"timestamps": None})
    await deps.jobs.call(Create(record=plain))
    await process_batch([message()], deps)
    assert not any(k.endswith(".words.json") for k in deps.bucket.objects)  # type: ignore[attr-defined]
