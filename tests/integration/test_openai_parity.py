"""OpenAI speech parity with the official ``openai`` SDK as the client, on both runtimes: the model list,
the voice list, every ``response_format``, ``speed``, ``stream_format: "sse"`` (with word timings, and with
SSML: its pauses and its words as written), and a job's changes as server-sent events (``GET /v1/jobs/{id}/events``).

The local runtime encodes the offline models' PCM (lameenc for mp3, PyAV for opus, aac, flac); a Worker
has no encoder, so there tone offers wav and pcm only and a request for another format is a 400.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import wave
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import openai
import pytest

from shared.api.sse import parse
from shared.audio.wav import wav_bytes
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
CHUNK_CHARS = 300  # MAX_INPUT_CHARS: a long job in a few chunks
LONG_TEXT = " ".join(f"Sentence {i} of a story that is long enough to need several requests." for i in range(16))
MAGIC = {
    "mp3": lambda b: b[:3] == b"ID3" or (b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
    "opus": lambda b: b[:4] == b"OggS",
    "aac": lambda b: b[0] == 0xFF and b[1] & 0xF6 == 0xF0,
    "flac": lambda b: b[:4] == b"fLaC",
    "wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "pcm": lambda b: len(b) % 2 == 0,
}
CONTENT_TYPES = {"mp3": "audio/mpeg", "opus": "audio/ogg", "aac": "audio/aac", "flac": "audio/flac", "wav": "audio/wav",
                 "pcm": "audio/pcm;rate=24000;channels=1"}


class SlowUpstream(FakeProvider):
    """OpenAI's speech API, a request taking ``SECONDS``: long jobs whose chunks arrive one by one."""

    SECONDS = 0.4

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        time.sleep(self.SECONDS)
        pcm = struct.pack("<2400h", *([len(body["input"])] * 2400))
        audio = pcm if body.get("response_format") == "pcm" else wav_bytes(pcm, 24000)
        self.reply(200, audio, "audio/pcm" if body.get("response_format") == "pcm" else "audio/wav")


@pytest.fixture(scope="module")
def upstream(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(SlowUpstream) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str, upstream: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"alice:{TOKEN}", "MAX_INPUT_CHARS": str(CHUNK_CHARS), "SPEECH_WAIT_SECONDS": "60",
           "OPENAI_API_KEY": "sk-upstream", "OPENAI_BASE_URL": upstream,
           # OpenAI's names to the deployment's default (tone here) on both runtimes: the api
           # Worker's wrangler.toml maps them to Workers AI's models, which are tested apart.
           "SPEECH_MODEL_MAP": "tts-1=,tts-1-hd=,gpt-4o-mini-tts="}
    p = Pipeline(tmp_path_factory.mktemp("openai"), env=env, runtime=runtime).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{pipeline.port}/v1", api_key=TOKEN, max_retries=0, timeout=60)


def frames(audio: bytes) -> int:
    with wave.open(io.BytesIO(audio)) as w:
        return w.getnframes()


def audio_of(pipeline: Pipeline, job_id: str) -> bytes:
    reply = pipeline.request("GET", f"/v1/jobs/{job_id}/audio", token=TOKEN)
    assert reply.status == 200, reply.body[:300]
    return reply.body


# --- /v1/models and /v1/audio/voices -----------------------------------------------------------


def test_models_list_is_openais_list_and_keeps_our_fields(pipeline: Pipeline, client: openai.OpenAI) -> None:
    listed = client.models.list()
    ids = [m.id for m in listed.data]
    assert "tone" in ids and {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)
    alias = next(m for m in listed.data if m.id == "tts-1")
    assert alias.object == "model" and alias.owned_by == "tone" and alias.model_extra == {"root": "tone"}
    raw = pipeline.request("GET", "/v1/models").json()
    assert raw["object"] == "list" and raw["defaultModel"] == "tone"
    assert [m["id"] for m in raw["models"]] == [m for m in ids if m not in ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")]
    tone = next(m for m in raw["models"] if m["id"] == "tone")
    assert tone["speedRange"] == [0.25, 4.0]
    assert client.models.retrieve("tts-1").model_extra == {"root": "tone"}
    one = client.models.retrieve("tone")
    assert one.id == "tone" and one.model_extra and one.model_extra["formats"] == tone["formats"]
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_voices_list_every_models_voices_and_the_openai_names(pipeline: Pipeline) -> None:
    voices = pipeline.request("GET", "/v1/audio/voices").json()["voices"]
    tone = [v for v in voices if v["model"] == "tone"]
    assert [v["id"] for v in tone[:3]] == ["default", "low", "high"] and tone[0]["default"] is True
    nova = next(v for v in tone if v["id"] == "nova")
    assert nova["aliasOf"] == "high" and set(nova) >= {"id", "name", "model", "language"}
    assert {v["id"] for v in tone} >= {"alloy", "ash", "coral", "echo", "marin", "cedar"}
    only = pipeline.request("GET", "/v1/audio/voices?model=tts-1").json()["voices"]
    assert {v["model"] for v in only} == {"tone"}
    if pipeline.runtime == "local":  # espeak's voices carry their language
        espeak = pipeline.request("GET", "/v1/audio/voices?model=espeak").json()["voices"]
        assert next(v for v in espeak if v["id"] == "en-us")["language"] == "en-US"
    bad = pipeline.request("GET", "/v1/audio/voices?model=nope")
    assert bad.status == 400 and bad.json()["error"]["param"] == "model"


def test_the_api_document_lists_the_new_routes(pipeline: Pipeline) -> None:
    paths = pipeline.request("GET", "/openapi.json").json()["paths"]
    assert {"/v1/audio/voices", "/v1/jobs/{job_id}/events", "/v1/models/{model_id}"} <= set(paths)


# --- formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_each_format_has_its_magic_where_the_runtime_makes_it(pipeline: Pipeline, client: openai.OpenAI, fmt: str) -> None:
    made_here = pipeline.runtime == "local" or fmt in ("wav", "pcm")
    if not made_here:
        with pytest.raises(openai.BadRequestError) as caught:
            client.audio.speech.create(model="tts-1", voice="alloy", input="abc", response_format=fmt)  # type: ignore[arg-type]
        error = caught.value.response.json()["error"]
        assert error["param"] == "response_format" and "wav" in error["message"] and "pcm" in error["message"]
        return
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="abc", response_format=fmt)  # type: ignore[arg-type]
    assert raw.headers["content-type"] == CONTENT_TYPES[fmt]
    assert MAGIC[fmt](raw.content), raw.content[:16]
    assert raw.content == audio_of(pipeline, raw.headers["x-job-id"])


def test_without_response_format_mp3_where_the_runtime_makes_it(pipeline: Pipeline, client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="hi")
    expected = "audio/mpeg" if pipeline.runtime == "local" else "audio/wav"
    assert raw.headers["content-type"] == expected and MAGIC["mp3" if pipeline.runtime == "local" else "wav"](raw.content)


@pytest.mark.local_only("opus, aac and flac come from PyAV, a native wheel: not in Pyodide")
@pytest.mark.parametrize("fmt", ["opus", "flac", "aac"])
def test_a_long_job_in_an_encoded_format_is_one_file(pipeline: Pipeline, client: openai.OpenAI, fmt: str) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input=LONG_TEXT, response_format=fmt)  # type: ignore[arg-type]
    assert MAGIC[fmt](raw.content)
    job = pipeline.request("GET", f"/v1/jobs/{raw.headers['x-job-id']}", token=TOKEN).json()
    assert job["progress"]["total"] > 2 and job["mimeType"] == CONTENT_TYPES[fmt]


# --- speed ---------------------------------------------------------------------------------------


def test_speed_divides_tones_slots(client: openai.OpenAI) -> None:
    normal = client.audio.speech.create(model="tone", voice="alloy", input="abcd", response_format="wav").read()
    fast = client.audio.speech.create(model="tone", voice="alloy", input="abcd", response_format="wav", speed=2.0).read()
    assert frames(fast) == frames(normal) // 2


@pytest.mark.local_only("eSpeak NG is a native library: not in Pyodide")
def test_speed_two_halves_espeaks_duration(client: openai.OpenAI) -> None:
    text = "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest."
    normal = client.audio.speech.create(model="espeak", voice="alloy", input=text, response_format="wav").read()
    fast = client.audio.speech.create(model="espeak", voice="alloy", input=text, response_format="wav", speed=2.0).read()
    assert frames(fast) / frames(normal) == pytest.approx(0.5, rel=0.15)


# --- stream_format: sse ----------------------------------------------------------------------------


def sse_speech(client: openai.OpenAI, **fields: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    fields = {"model": "tts-1", **fields}
    with client.audio.speech.with_streaming_response.create(voice="alloy", stream_format="sse", **fields) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = b"".join(r.iter_bytes())
        headers = dict(r.headers)
    return [json.loads(e["data"]) for e in parse(body)], headers


def deltas(events: list[dict[str, Any]]) -> bytes:
    return b"".join(base64.b64decode(e["audio"]) for e in events if e["type"] == "speech.audio.delta")


@pytest.mark.parametrize("fmt", ["pcm", "wav", None])
def test_sse_deltas_join_to_the_jobs_audio(pipeline: Pipeline, client: openai.OpenAI, fmt: str | None) -> None:
    extra = {"response_format": fmt} if fmt else {}
    events, headers = sse_speech(client, input="Hello over events", **extra)
    assert [e["type"] for e in events][-1] == "speech.audio.done"
    assert all(set(e) == {"type", "audio"} for e in events[:-1])
    done = events[-1]
    assert done["usage"] == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "characters": 17}
    assert deltas(events) == audio_of(pipeline, headers["x-job-id"])


def test_sse_of_a_long_job_sends_each_chunk_with_its_words(pipeline: Pipeline, client: openai.OpenAI) -> None:
    # The slow upstream's chunks come 0.4 s apart: the stream sends each as it is stored.
    events, headers = sse_speech(client, input=LONG_TEXT, response_format="pcm", extra_body={"timestamps": "word"},
                                 model="openai/tts-1")
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and "error" not in kinds
    job_id = headers["x-job-id"]
    assert deltas(events) == audio_of(pipeline, job_id)
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert kinds.count("speech.audio.words") >= 2  # not all at the end
    timings = pipeline.request("GET", f"/v1/jobs/{job_id}/timestamps", token=TOKEN).json()["words"]
    assert [(w["word"], w["charStart"]) for w in words] == [(w["word"], w["charStart"]) for w in timings]
    assert [w["start"] for w in words] == pytest.approx([w["start"] for w in timings], abs=1e-3)


SSML = ('<speak>Sentence one &amp; two.<break time="1s"/>The <sub alias="World Wide Web Consortium">W3C</sub> met.'
        '<break time="500ms"/>Done here.</speak>')


def test_sse_of_an_ssml_job_sends_each_chunk_with_its_pauses_and_words_as_written(
    pipeline: Pipeline, client: openai.OpenAI
) -> None:
    # Three requests (the breaks cut them), 0.4 s apart upstream: each chunk goes as it is stored.
    events, headers = sse_speech(client, input=SSML, response_format="pcm", model="openai/tts-1",
                                 extra_body={"textType": "ssml", "timestamps": "word"})
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done" and "error" not in kinds
    job_id = headers["x-job-id"]
    pcm = deltas(events)
    assert pcm == audio_of(pipeline, job_id)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    # the fake's 2,400 samples a request, then exact silence: 1 s after the first, 0.5 s after the second
    assert len(samples) == 3 * 2400 + 24_000 + 12_000
    assert not any(samples[2400 : 2400 + 24_000]) and all(samples[2400 + 24_000 : 2 * 2400 + 24_000])
    assert not any(samples[2 * 2400 + 24_000 : 2 * 2400 + 36_000])
    job = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()
    assert job["textType"] == "ssml" and job["progress"]["total"] == 3
    words = [w for e in events if e["type"] == "speech.audio.words" for w in e["words"]]
    assert kinds.count("speech.audio.words") >= 2  # per chunk, not all at the end
    assert [w["word"] for w in words] == ["Sentence", "one", "&", "two.", "The", "W3C", "met.", "Done", "here."]
    assert [SSML[w["charStart"] : w["charEnd"]] for w in words[2:6]] == ["&amp;", "two.", "The", "W3C"]
    timings = pipeline.request("GET", f"/v1/jobs/{job_id}/timestamps", token=TOKEN).json()["words"]
    assert [(w["word"], w["charStart"], w["charEnd"]) for w in words] == [
        (w["word"], w["charStart"], w["charEnd"]) for w in timings
    ]
    assert [w["start"] for w in words] == pytest.approx([w["start"] for w in timings], abs=1e-3)
    assert words[4]["start"] >= (2400 + 24_000) / 24_000  # "The" after the first chunk and its second of silence


def test_sse_errors_before_the_stream_keep_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tts-1", voice="nobody", input="hi", stream_format="sse")
    assert caught.value.response.json()["error"]["param"] == "voice"


# --- GET /v1/jobs/{id}/events ----------------------------------------------------------------------


def read_events(pipeline: Pipeline, job_id: str, headers: dict[str, str] | None = None) -> tuple[int, list[dict[str, str]], float]:
    """Every event of the stream (it ends at a final state) and how long the first one took."""
    conn = HTTPConnection("127.0.0.1", pipeline.port, timeout=60)
    try:
        started = time.monotonic()
        conn.request("GET", f"/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
        response = conn.getresponse()
        if response.status != 200:
            return response.status, [], 0.0
        assert response.getheader("content-type", "").startswith("text/event-stream")
        first_at = 0.0
        body = b""
        while True:
            line = response.readline()
            if not line:
                break
            if not first_at and line.startswith(b"data:"):
                first_at = time.monotonic() - started
            body += line
        return 200, parse(body), first_at
    finally:
        conn.close()


def test_job_events_follow_a_job_to_its_end(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text=LONG_TEXT, model="openai/tts-1", format="wav")  # chunks 0.4 s apart
    status, events, first_at = read_events(pipeline, job["jobId"])
    assert status == 200 and events and all(e["event"] == "job" for e in events)
    views = [json.loads(e["data"]) for e in events]
    ids = [int(e["id"]) for e in events]
    assert ids == sorted(set(ids))
    assert views[-1]["status"] == "completed" and all(v["status"] != "completed" for v in views[:-1])
    assert views[-1] == pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).json()
    assert first_at < 5.0 and len(events) >= 3  # queued or processing, progress, ..., completed
    # Resuming after the last change: nothing more to say about a finished job.
    status, again, _ = read_events(pipeline, job["jobId"], {"Last-Event-ID": str(ids[-1])})
    assert status == 200 and again == []
    # Resuming after an earlier change: the job as it is now.
    status, later, _ = read_events(pipeline, job["jobId"], {"Last-Event-ID": str(ids[0])})
    assert [json.loads(e["data"])["status"] for e in later] == ["completed"]


def test_job_events_refuse_a_bad_last_event_id_and_hide_other_jobs(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text="short")
    assert read_events(pipeline, job["jobId"], {"Last-Event-ID": "x1"})[0] == 400
    assert read_events(pipeline, "0" * 32)[0] == 404
