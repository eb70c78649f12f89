"""A multi-input job through the real pipeline, on both runtimes: 3 inputs, 2 voices, one WAV.

``tone`` makes known samples, so the joined file is checked sample for sample:
each chapter starts and ends exactly where its input's audio does, the gap
between inputs is exact silence, ``?input=2`` (with the token, and through the
signed ``audioUrl``) is that input's audio as a WAV of its own, the WebVTT
captions and chapters track parse (webvtt-py) and carry the chapters, and
progress counts inputs. ``MAX_INPUT_CHARS`` makes the second input several
chunks (fanned out as chunk tasks).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import webvtt

from shared.text.chunking import chunk_texts
from shared.synthesis.tone import ToneSynthesizer
from tests.integration.harness import Pipeline

TOKEN = "alice-token"
CHUNK_CHARS = 300
RATE = 24_000
GAP_MS = 400
INPUTS = [
    {"text": "Hello Bob. This is Alice, reading the first part.", "voiceId": "low", "title": "Alice opens"},
    {"text": " ".join(f"Bob answers with line {n}, which is long enough to need its own chunk." for n in range(8)),
     "voiceId": "high", "title": "Bob's reply"},
    {"text": "Thank you Bob. That is all.", "voiceId": "low"},
]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"alice:{TOKEN}", "MAX_INPUT_CHARS": str(CHUNK_CHARS), "SIGNING_KEY": "k" * 32}
    p = Pipeline(tmp_path_factory.mktemp("inputs"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def expected_pcm(item: dict[str, str]) -> bytes:
    tone = ToneSynthesizer()
    return b"".join(
        tone.render_pcm(c, voice=item["voiceId"], sample_rate=RATE) for c in chunk_texts(item["text"], CHUNK_CHARS)
    )


def clock(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def submit(pipeline: Pipeline, **fields: Any) -> dict[str, Any]:
    reply = pipeline.request("POST", "/v1/jobs", json_body=fields, token=TOKEN)
    assert reply.status == 202, reply.body
    done = pipeline.wait(reply.json()["jobId"], token=TOKEN, timeout=120)
    assert done["status"] == "completed", done
    return done


def test_three_inputs_two_voices_one_wav_exact_chapters_and_one_input_on_its_own(pipeline: Pipeline) -> None:
    chunks = [len(chunk_texts(i["text"], CHUNK_CHARS)) for i in INPUTS]
    assert chunks[1] >= 2
    job = submit(pipeline, inputs=INPUTS, gapMs=GAP_MS, model="tone", format="wav", sampleRate=RATE, timestamps="word")
    job_id = job["jobId"]
    assert job["inputCount"] == 3 and job["gapMs"] == GAP_MS
    assert job["progress"] == {"done": sum(chunks), "total": sum(chunks), "inputsDone": 3, "inputsTotal": 3}

    wav = pipeline.request("GET", f"/v1/jobs/{job_id}/audio", token=TOKEN).body
    parts = [expected_pcm(i) for i in INPUTS]
    gap = bytes(GAP_MS * RATE // 1000 * 2)
    assert wav[44:] == parts[0] + gap + parts[1] + gap + parts[2]

    document = pipeline.request("GET", f"/v1/jobs/{job_id}/timestamps", token=TOKEN).json()
    chapters = document["chapters"]
    assert [(c["index"], c["title"]) for c in chapters] == [(0, "Alice opens"), (1, "Bob's reply"), (2, "Input 3")]
    sample = 0
    for chapter, pcm in zip(chapters, parts, strict=True):
        assert round(chapter["start"] * RATE) == sample and round(chapter["end"] * RATE) == sample + len(pcm) // 2
        assert wav[chapter["byteStart"] : chapter["byteEnd"]] == pcm
        sample += len(pcm) // 2 + len(gap) // 2
    assert document["duration"] == pytest.approx((len(wav) - 44) / 2 / RATE)

    for url, token in ((f"/v1/jobs/{job_id}/audio?input=2", TOKEN), (job["audioUrl"] + "&input=2", None)):
        path = url.split("://", 1)[-1].split("/", 1)[-1] if "://" in url else url.lstrip("/")
        reply = pipeline.request("GET", "/" + path, token=token)
        assert reply.status == 200 and reply.headers["content-type"].startswith("audio/wav"), reply.body[:200]
        assert reply.body[44:] == parts[2]
        assert struct.unpack_from("<4sI4s", reply.body) == (b"RIFF", 36 + len(parts[2]), b"WAVE")
        assert struct.unpack_from("<I", reply.body, 40)[0] == len(parts[2])

    vtt = pipeline.request("GET", f"/v1/jobs/{job_id}/captions.vtt", token=TOKEN).body.decode()
    assert "NOTE chapter 1: Bob's reply (" in vtt
    assert webvtt.from_buffer(io.StringIO(vtt)).captions  # parses, NOTE blocks and all
    track = pipeline.request("GET", f"/v1/jobs/{job_id}/captions.vtt?kind=chapters", token=TOKEN).body.decode()
    cues = webvtt.from_buffer(io.StringIO(track)).captions
    assert [(c.identifier, c.text) for c in cues] == [("chapter-0", "Alice opens"), ("chapter-1", "Bob's reply"),
                                                        ("chapter-2", "Input 3")]
    assert [c.start for c in cues] == [clock(c["start"]) for c in chapters]
    assert [c.end for c in cues] == [clock(c["end"]) for c in chapters]


def test_bad_inputs_and_bad_input_indexes_are_clear(pipeline: Pipeline) -> None:
    both = pipeline.request("POST", "/v1/jobs", json_body={"text": "a", "inputs": [{"text": "b"}]}, token=TOKEN)
    assert both.status == 422 and "exactly one of text and inputs" in both.json()["error"]["message"]
    voice = pipeline.request(
        "POST", "/v1/jobs", json_body={"inputs": [{"text": "b", "voiceId": "nobody"}], "model": "tone"}, token=TOKEN
    )
    assert voice.status == 422 and voice.json()["error"]["field"] == "inputs.0.voiceId"
    job = submit(pipeline, inputs=[{"text": "One."}, {"text": "Two."}], model="tone", format="pcm", sampleRate=RATE)
    second = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio?input=1", token=TOKEN)
    assert second.status == 200 and second.body == expected_pcm({"text": "Two.", "voiceId": "default"})
    assert second.headers["content-length"] == str(len(second.body))
    beyond = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio?input=2", token=TOKEN)
    assert beyond.status == 400 and json.loads(beyond.body)["error"]["code"] == "invalid_input"
    chapters = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/timestamps", token=TOKEN).json()["chapters"]
    assert [c["title"] for c in chapters] == ["Input 1", "Input 2"]
