"""Word timings and captions through the real pipeline, on both runtimes (espeak on the local one).

For a job submitted with ``"timestamps": "word"``: ``/captions.vtt`` parses
as WebVTT (webvtt-py), every word of the text appears once and in order,
cue times are monotonic and end within the audio's duration; the same for a
long job in chunks (``MAX_INPUT_CHARS`` makes short texts long here);
``/timestamps`` maps each word back to the submitted text; delete removes
the timings object with the audio.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import webvtt

from shared.synthesis.wav import parse_wav
from tests.integration.harness import Pipeline

TOKEN = "alice-token"
CHUNK_CHARS = 300
PARAGRAPHS = (
    "The pipeline owns the text, the chunks and the audio. It can hand back captions, too.\n\n"
    "Each word is timed where the engine speaks it: café, naïve, “quoted” words, and 1,234 included!\n\n"
    "A third paragraph, short — and done."
)
LONG = " ".join(
    f"Paragraph {n} says its piece in plain words, and then it stops so that the next one may speak." for n in range(12)
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"alice:{TOKEN}", "MAX_INPUT_CHARS": str(CHUNK_CHARS), "SIGNING_KEY": "k" * 32}
    p = Pipeline(tmp_path_factory.mktemp("captions"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def finished(pipeline: Pipeline, text: str, **fields: Any) -> dict[str, Any]:
    job = pipeline.submit(text, token=TOKEN, timestamps="word", **fields)
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=120)
    assert done["status"] == "completed", done
    return done


def get(pipeline: Pipeline, job_id: str, tail: str) -> Any:
    return pipeline.request("GET", f"/v1/jobs/{job_id}/{tail}", token=TOKEN)


def seconds(clock: str) -> float:
    hours, minutes, rest = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(rest)


def check_captions(pipeline: Pipeline, job: dict[str, Any], text: str) -> dict[str, Any]:
    job_id = job["jobId"]
    audio = get(pipeline, job_id, "audio")
    info = parse_wav(audio.body)
    duration = info.pcm_length / info.frame_size / info.sample_rate

    vtt = get(pipeline, job_id, "captions.vtt")
    assert vtt.status == 200 and vtt.headers["content-type"].startswith("text/vtt")
    captions = webvtt.from_buffer(io.StringIO(vtt.body.decode("utf-8")))
    cues = list(captions)
    assert cues
    spoken = " ".join(c.text.replace("\n", " ") for c in cues).split()
    assert spoken == text.split()  # every word once, in order
    previous_end = 0.0
    for cue in cues:
        start, end = seconds(cue.start), seconds(cue.end)
        assert previous_end <= start < end, cue
        previous_end = end
        assert len(cue.text) <= 42 or " " not in cue.text
    assert previous_end <= duration + 1e-6

    stamps = get(pipeline, job_id, "timestamps")
    assert stamps.status == 200 and stamps.headers["content-type"] == "application/json"
    doc = stamps.json()
    words = doc["words"]
    assert [w["word"] for w in words] == text.split()
    for word in words:
        assert text[word["charStart"] : word["charEnd"]] == word["word"]
        assert 0 <= word["start"] <= word["end"] <= duration + 1e-6
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    assert abs(doc["duration"] - duration) < 1e-6

    srt = get(pipeline, job_id, "captions.srt")
    assert srt.status == 200 and srt.body.decode().startswith("1\n00:00:")
    return doc


@pytest.mark.local_only("espeak needs libespeak-ng, which only the local runtime loads")
def test_an_espeak_job_of_a_few_paragraphs_has_exact_captions(pipeline: Pipeline) -> None:
    job = finished(pipeline, PARAGRAPHS, model="espeak")
    assert job["timestamps"] == "word" and job["captionsUrl"].split("?")[0].endswith(f"/v1/jobs/{job['jobId']}/captions.vtt")
    doc = check_captions(pipeline, job, PARAGRAPHS)
    assert doc["timings"] == "exact" and doc["model"] == "espeak"


@pytest.mark.local_only("espeak needs libespeak-ng, which only the local runtime loads")
def test_a_long_espeak_job_in_chunks_keeps_its_captions_in_step(pipeline: Pipeline) -> None:
    job = finished(pipeline, LONG, model="espeak")
    assert job["progress"]["total"] >= len(LONG) // CHUNK_CHARS
    doc = check_captions(pipeline, job, LONG)
    assert doc["timings"] == "exact"
    # Each paragraph's first word starts after the previous paragraph's last word ended.
    firsts = [w for w in doc["words"] if w["word"] == "Paragraph"]
    assert len(firsts) == 12 and all(a["start"] < b["start"] for a, b in zip(firsts, firsts[1:]))


def test_a_tone_job_has_exact_captions_and_a_signed_link(pipeline: Pipeline) -> None:
    for text in (PARAGRAPHS, LONG):
        job = finished(pipeline, text, model="tone")
        doc = check_captions(pipeline, job, text)
        assert doc["timings"] == "exact"
        # tone's timings are computed: the first word starts at 0, each character is 60 ms
        assert doc["words"][0]["start"] == 0 and doc["words"][1]["start"] == pytest.approx(0.06 * text.index(text.split()[1]))
    signed = pipeline.request("GET", job["captionsUrl"].split(f":{pipeline.port}", 1)[-1])  # no token
    assert signed.status == 200 and signed.body.startswith(b"WEBVTT")


def test_captions_say_why_when_there_are_none(pipeline: Pipeline) -> None:
    plain = pipeline.submit("No timings asked for.", token=TOKEN, model="tone")
    pipeline.wait(plain["jobId"], token=TOKEN)
    reply = get(pipeline, plain["jobId"], "captions.vtt")
    assert reply.status == 404 and reply.json()["error"]["code"] == "timestamps_not_requested"
    assert reply.json()["error"]["field"] == "timestamps"
    assert get(pipeline, plain["jobId"], "timestamps").status == 404
    anonymous = pipeline.request("GET", f"/v1/jobs/{plain['jobId']}/timestamps")
    assert anonymous.status == 401


def test_delete_removes_the_timings_with_the_audio(pipeline: Pipeline) -> None:
    job = finished(pipeline, "Delete me, timings and all.", model="tone")
    job_id = job["jobId"]
    assert any(k.endswith(f"{job_id}.words.json") for k in pipeline.object_keys())
    assert pipeline.request("DELETE", f"/v1/jobs/{job_id}", token=TOKEN).status == 204
    assert not any(job_id in k for k in pipeline.object_keys())


def test_timestamps_is_checked_at_submit(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "timestamps": "syllable"}, token=TOKEN)
    assert reply.status == 422 and reply.json()["error"]["field"] == "timestamps"
    models = {m["id"]: m for m in pipeline.request("GET", "/v1/models").json()["models"]}
    assert models["tone"]["timestamps"] == "exact" and "60 ms" in models["tone"]["timestampsMethod"]
