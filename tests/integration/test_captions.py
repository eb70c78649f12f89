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
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import webvtt

from shared.audio.wav import parse_wav
from tests.integration.harness import Pipeline
from tts_client import Client

TOKEN = "alice-token"
ROOT = Path(__file__).resolve().parents[2]
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


def test_the_cli_writes_captions_in_the_format_of_the_extension(pipeline: Pipeline, tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("TTS_API_")},
           "TTS_API_URL": f"http://127.0.0.1:{pipeline.port}", "TTS_API_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tts_pipeline", *args], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=120)

    vtt = tmp_path / "talk.vtt"
    run = cli("submit", "Captions from the command line, word by word.", "-m", "tone", "--captions", str(vtt))
    assert run.returncode == 0, run.stderr
    job_id = run.stdout.strip()
    assert "saved vtt captions" in run.stderr
    assert [c.text for c in webvtt.read(str(vtt))] == ["Captions from the command line,", "word by word."]
    srt, words = tmp_path / "talk.srt", tmp_path / "talk.json"
    assert cli("download", job_id, "--captions", str(srt)).returncode == 0
    assert srt.read_text().startswith("1\n00:00:00,000 --> ")
    assert cli("wait", job_id, "--captions", str(words)).returncode == 0
    assert [w["word"] for w in json.loads(words.read_text())["words"]][:2] == ["Captions", "from"]
    bad = cli("submit", "x", "--captions", str(tmp_path / "talk.txt"))
    assert bad.returncode == 2 and "must end in .vtt, .srt or .json" in bad.stderr


def test_the_python_client_reads_captions(pipeline: Pipeline) -> None:
    client = Client(f"http://127.0.0.1:{pipeline.port}", TOKEN)
    job = client.wait(client.submit("The client reads them too.", model="tone", timestamps="word").job_id)
    assert client.captions(job).startswith("WEBVTT")
    assert client.captions(job.job_id, "srt").startswith("1\n")
    doc = client.timestamps(job)
    assert doc.timings == "exact" and [w.word for w in doc.words] == "The client reads them too.".split()


@pytest.mark.local_only("the MP3 encoder (lameenc) loads only on the local runtime")
def test_an_mp3_job_in_chunks_has_captions_moved_by_the_encoders_delay(pipeline: Pipeline) -> None:
    models = {m["id"]: m for m in pipeline.request("GET", "/v1/models").json()["models"]}
    assert "mp3" in models["tone"]["timestampsFormats"]
    job = finished(pipeline, LONG, model="tone", format="mp3")
    assert job["progress"]["total"] > 1
    doc = get(pipeline, job["jobId"], "timestamps").json()
    words = doc["words"]
    assert [w["word"] for w in words] == LONG.split()
    assert words[0]["start"] == pytest.approx(1105 / 24000, abs=1e-6)  # LAME's delay: the first beep is that late
    assert words[-1]["end"] <= doc["duration"]
    cues = list(webvtt.from_buffer(io.StringIO(get(pipeline, job["jobId"], "captions.vtt").body.decode())))
    assert " ".join(c.text for c in cues).split() == LONG.split()
