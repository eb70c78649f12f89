"""OpenAI's speech route with the official ``openai`` SDK as the client, and the waits
(``Prefer: wait=N``, ``GET /v1/jobs/{id}?wait=N``) the shard answers, on both runtimes.

A loopback fake of OpenAI's upstream API (``OPENAI_BASE_URL``) plays the
provider for the long-input test (``openai/tts-1`` takes 4,096 characters a
request) and, with "zzz" in the text, holds its answer for ``SLOW_SECONDS``
so that a wait can time out.
"""

from __future__ import annotations

import io
import struct
import threading
import time
import wave
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from shared.text.chunking import chunk_texts
from shared.audio.wav import wav_bytes, wav_pcm
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
UPSTREAM_KEY = "sk-upstream"
SLOW_SECONDS = 12.0
SPEECH_WAIT = 6


class Upstream(FakeProvider):
    """OpenAI's ``POST /v1/audio/speech``: WAV (or raw PCM) whose samples encode the input length."""

    inputs: list[str] = []
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        with self.lock:
            self.inputs.append(body["input"])
        if "zzz" in body["input"]:
            time.sleep(SLOW_SECONDS)
        pcm = struct.pack("<200h", *([len(body["input"]) % 30000] * 200))
        audio = pcm if body.get("response_format") == "pcm" else wav_bytes(pcm, 24000)
        self.reply(200, audio, "audio/pcm" if body.get("response_format") == "pcm" else "audio/wav")


@pytest.fixture(scope="module")
def upstream(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(Upstream) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, upstream: str, runtime: str) -> Iterator[Pipeline]:
    env = {
        "API_TOKENS": f"alice:{TOKEN}",
        "OPENAI_API_KEY": UPSTREAM_KEY,
        "OPENAI_BASE_URL": upstream,
        "SPEECH_WAIT_SECONDS": str(SPEECH_WAIT),
        "MAX_AUDIO_BYTES": "100000000",
        # tts-1 stays the default model (tone); tts-1-hd is the upstream's, through the map
        "SPEECH_MODEL_MAP": "tts-1=,tts-1-hd=openai/tts-1,gpt-4o-mini-tts=",
    }
    p = Pipeline(tmp_path_factory.mktemp("speech"), env=env, runtime=runtime).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def client(pipeline: Pipeline) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"http://127.0.0.1:{pipeline.port}/v1", api_key=TOKEN, max_retries=0, timeout=60)


def frames(audio: bytes) -> int:
    with wave.open(io.BytesIO(audio)) as w:
        return w.getnframes()


# --- POST /v1/audio/speech ---------------------------------------------------------------


def test_create_returns_the_audio_of_a_normal_job(pipeline: Pipeline, client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="Hello", response_format="wav")
    audio = raw.content
    assert raw.headers["content-type"] == "audio/wav"
    assert frames(audio) == 5 * 1440  # tone: 60 ms a character at 24 kHz
    job_id = raw.headers["x-job-id"]
    job = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()
    assert job["status"] == "completed" and job["model"] == "tone" and job["voiceId"] == "default"
    assert job["characters"] == 5
    listed = pipeline.request("GET", "/v1/jobs?limit=100", token=TOKEN).json()["jobs"]
    assert job_id in [j["jobId"] for j in listed]
    assert pipeline.request("GET", f"/v1/jobs/{job_id}/audio", token=TOKEN).body == audio
    assert pipeline.request("DELETE", f"/v1/jobs/{job_id}", token=TOKEN).status == 204
    assert pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).status == 404


def test_streaming_response_gives_the_same_bytes(client: openai.OpenAI) -> None:
    whole = client.audio.speech.create(model="tts-1", voice="alloy", input="stream me", response_format="wav").read()
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input="stream me", response_format="wav"
    ) as response:
        assert response.headers["content-type"] == "audio/wav"
        streamed = b"".join(response.iter_bytes(chunk_size=1000))
    assert streamed == whole


@pytest.mark.parametrize("fmt,content_type", [("wav", "audio/wav"), ("pcm", "audio/pcm;rate=24000;channels=1")])
def test_every_format_tone_makes(client: openai.OpenAI, fmt: str, content_type: str) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="abc", response_format=fmt)  # type: ignore[arg-type]
    audio = raw.content
    assert raw.headers["content-type"] == content_type
    pcm = wav_pcm(audio) if fmt == "wav" else audio
    assert len(pcm) == 3 * 1440 * 2


def test_our_own_ids_and_mapped_voices(pipeline: Pipeline, client: openai.OpenAI) -> None:
    high = client.audio.speech.with_raw_response.create(model="tone", voice="high", input="x", response_format="wav")
    nova = client.audio.speech.with_raw_response.create(model="tone", voice="nova", input="x", response_format="wav")
    assert high.content == nova.content  # SPEECH_VOICE_MAP: nova=high
    job = pipeline.request("GET", f"/v1/jobs/{nova.headers['x-job-id']}", token=TOKEN).json()
    assert job["voiceId"] == "high"


def test_without_response_format_mp3_where_made_else_the_model_default(pipeline: Pipeline, client: openai.OpenAI) -> None:
    raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="hi")
    if pipeline.runtime == "local":  # OpenAI's default, where the runtime encodes it
        assert raw.headers["content-type"] == "audio/mpeg"
    else:
        assert raw.headers["content-type"] == "audio/wav" and frames(raw.content) == 2 * 1440


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


def test_an_unsupported_format_is_a_400_in_openais_shape(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:  # ogg is a format we know that tone makes nowhere
        client.audio.speech.create(model="tts-1", voice="alloy", input="hi", response_format="ogg")  # type: ignore[arg-type]
    error = error_of(caught.value)
    assert caught.value.status_code == 400
    assert error["type"] == "invalid_request_error" and error["param"] == "response_format"
    assert "ogg" in error["message"] and "wav" in error["message"]


def test_mp3_where_the_runtime_encodes_it(pipeline: Pipeline, client: openai.OpenAI) -> None:
    # The local runtime encodes tone's PCM with LAME; a Worker has no encoder (docs/providers.md).
    if pipeline.runtime == "local":
        raw = client.audio.speech.with_raw_response.create(model="tts-1", voice="alloy", input="abc", response_format="mp3")
        assert raw.headers["content-type"] == "audio/mpeg" and raw.content[:2] in (b"\xff\xf3", b"\xff\xfb", b"\xff\xf2")
    else:
        with pytest.raises(openai.BadRequestError) as caught:
            client.audio.speech.create(model="tts-1", voice="alloy", input="abc", response_format="mp3")
        assert error_of(caught.value)["param"] == "response_format"


@pytest.mark.parametrize(
    "fields,param",
    [
        ({"model": "no-such-model", "voice": "alloy", "input": "hi"}, "model"),
        ({"model": "tts-1", "voice": "nobody", "input": "hi"}, "voice"),
        ({"model": "tts-1", "voice": "alloy", "input": "hi", "speed": 9}, "speed"),
        ({"model": "tts-1", "voice": "alloy", "input": "hi", "instructions": "calm"}, "instructions"),
        ({"model": "tts-1", "voice": "alloy", "input": ""}, "input"),
        ({"model": "tts-1", "voice": "alloy", "input": "hi", "stream_format": "chunks"}, "stream_format"),
    ],
)
def test_bad_fields_are_400s_naming_the_param(client: openai.OpenAI, fields: dict[str, Any], param: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(**fields)
    error = error_of(caught.value)
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"


def test_an_unknown_field_is_a_400(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/audio/speech", token=TOKEN,
                             json_body={"model": "tts-1", "voice": "alloy", "input": "hi", "colour": "red"})
    assert reply.status == 400 and reply.json()["error"]["param"] == "colour"


def test_a_wrong_token_is_openais_401(pipeline: Pipeline) -> None:
    bad = openai.OpenAI(base_url=f"http://127.0.0.1:{pipeline.port}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.audio.speech.create(model="tts-1", voice="alloy", input="hi")
    error = error_of(caught.value)
    assert caught.value.status_code == 401 and error["code"] == "invalid_api_key"


def test_long_input_is_synthesized_in_chunks_and_joined(pipeline: Pipeline, client: openai.OpenAI) -> None:
    text = " ".join(f"Sentence {i} of a long story, told slowly enough to need two requests." for i in range(80))
    chunks = chunk_texts(text, 4096)
    assert len(chunks) == 2
    raw = client.audio.speech.with_raw_response.create(model="tts-1-hd", voice="alloy", input=text, response_format="wav")
    samples = struct.unpack("<400h", wav_pcm(raw.content))
    assert list(samples) == [len(chunks[0])] * 200 + [len(chunks[1])] * 200
    job = pipeline.request("GET", f"/v1/jobs/{raw.headers['x-job-id']}", token=TOKEN).json()
    assert job["model"] == "openai/tts-1" and job["progress"] == {"done": 2, "total": 2}


def test_a_job_longer_than_the_speech_wait_is_a_504_not_retried(pipeline: Pipeline, client: openai.OpenAI) -> None:
    before = len(Upstream.inputs)
    with pytest.raises(openai.InternalServerError) as caught:
        client.with_options(max_retries=2).audio.speech.create(
            model="tts-1-hd", voice="alloy", input="a slow one zzz", response_format="wav"
        )
    error = error_of(caught.value)
    assert caught.value.status_code == 504 and error["code"] == "timeout"
    job_id = caught.value.response.headers["x-job-id"]
    assert job_id in error["message"]
    # x-should-retry: false kept the SDK from submitting it three times
    jobs = pipeline.request("GET", "/v1/jobs?limit=100", token=TOKEN).json()["jobs"]
    assert sum(1 for j in jobs if j["jobId"] == job_id) == 1
    done = pipeline.request("GET", f"/v1/jobs/{job_id}?wait=30", token=TOKEN).json()
    while done["status"] not in ("completed", "failed"):
        done = pipeline.request("GET", f"/v1/jobs/{job_id}?wait=30", token=TOKEN).json()
    assert done["status"] == "completed" and len(Upstream.inputs) == before + 1


def test_a_client_timeout_is_the_sdks_timeout_error(pipeline: Pipeline) -> None:
    impatient = openai.OpenAI(base_url=f"http://127.0.0.1:{pipeline.port}/v1", api_key=TOKEN, max_retries=0, timeout=1)
    with pytest.raises(openai.APITimeoutError):
        impatient.audio.speech.create(model="tts-1-hd", voice="alloy", input="another slow one zzz", response_format="wav")


# --- Prefer: wait=N and ?wait=N ------------------------------------------------------------


def test_prefer_wait_answers_200_with_the_finished_job(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "wait for me"}, token=TOKEN,
                             headers={"Prefer": "wait=20"})
    assert reply.status == 200, reply.body
    assert reply.headers["preference-applied"] == "wait=20"
    job = reply.json()
    assert job["status"] == "completed" and job["audioUrl"]


def test_prefer_wait_is_capped_and_a_slow_job_is_the_usual_202(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", token=TOKEN, headers={"Prefer": "respond-async, wait=1"},
                             json_body={"text": "slow enough zzz", "model": "openai/tts-1", "format": "wav"})
    assert reply.status == 202 and reply.headers["preference-applied"] == "wait=1"
    assert reply.json()["status"] in ("queued", "processing")
    capped = pipeline.request("POST", "/v1/jobs", json_body={"text": "capped"}, token=TOKEN,
                              headers={"Prefer": "wait=100000"})
    assert capped.headers["preference-applied"] == "wait=60"  # MAX_WAIT_SECONDS
    plain = pipeline.request("POST", "/v1/jobs", json_body={"text": "no wait"}, token=TOKEN,
                             headers={"Prefer": "return=minimal"})
    assert plain.status == 202 and "preference-applied" not in plain.headers


def test_get_wait_answers_on_each_change_of_status(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text="slow and steady zzz", model="openai/tts-1", format="wav")
    seen = [job["status"]]
    for _ in range(4):
        began = time.monotonic()
        current = pipeline.request("GET", f"/v1/jobs/{job['jobId']}?wait=40", token=TOKEN).json()
        # each answer came because the status moved on, not because 40 s passed (an idle consumer may
        # have claimed the job before the first wait began: that wait then answers at its completion)
        assert time.monotonic() - began < 30, (seen, current)
        assert current["status"] != seen[-1] or current["status"] == "completed", (seen, current)
        seen.append(current["status"])
        if current["status"] == "completed":
            break
    assert seen[-1] == "completed" and set(seen) <= {"queued", "processing", "completed"}, seen


def test_get_wait_times_out_with_the_job_as_it_is(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text="slow to time out zzz", model="openai/tts-1", format="wav")
    deadline = time.monotonic() + 30
    while pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).json()["status"] == "queued":
        assert time.monotonic() < deadline, "never claimed"
        time.sleep(0.02)
    # processing, on the slow upstream: the wait ends at its timeout, with the job as it is
    began = time.monotonic()
    current = pipeline.request("GET", f"/v1/jobs/{job['jobId']}?wait=1", token=TOKEN)
    assert current.status == 200 and current.json()["status"] == "processing"
    assert time.monotonic() - began >= 0.9
    pipeline.wait(job["jobId"], token=TOKEN, timeout=60)


def test_get_wait_refuses_a_non_number_and_hides_other_tenants(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text="mine")
    bad = pipeline.request("GET", f"/v1/jobs/{job['jobId']}?wait=soon", token=TOKEN)
    assert bad.status == 400 and bad.json()["error"]["field"] == "wait"
    missing = pipeline.request("GET", f"/v1/jobs/{'f' * 32}?wait=1", token=TOKEN)
    assert missing.status == 404


# --- GET /v1/jobs/{id}/audio?stream=1 --------------------------------------------------------


def test_stream_sends_each_chunk_as_soon_as_it_is_stored(pipeline: Pipeline) -> None:
    from http.client import HTTPConnection

    text = " ".join(f"Sentence {i} of a long story, told slowly enough to need two requests." for i in range(79))
    text += " The last one waits upstream, zzz."
    chunks = chunk_texts(text, 4096)
    assert len(chunks) == 2 and "zzz" not in chunks[0] and "zzz" in chunks[1]
    job = pipeline.submit(token=TOKEN, text=text, model="openai/tts-1", format="wav")
    conn = HTTPConnection("127.0.0.1", pipeline.port, timeout=60)
    try:
        conn.request("GET", f"/v1/jobs/{job['jobId']}/audio?stream=1", headers={"Authorization": f"Bearer {TOKEN}"})
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("content-type") == "audio/wav"
        assert response.getheader("content-length") is None and response.getheader("transfer-encoding") == "chunked"
        head = response.read(44 + 400)  # the streaming header and chunk 0's samples
        # chunk 1 is still held upstream: the first chunk came before the job was done
        assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=TOKEN).json()["status"] == "processing"
        rest = response.read()
    finally:
        conn.close()
    streamed = head + rest
    assert streamed[:4] == b"RIFF" and struct.unpack("<I", streamed[4:8])[0] == 0xFFFFFFFF
    assert streamed[36:40] == b"data" and struct.unpack("<I", streamed[40:44])[0] == 0xFFFFFFFF
    assert pipeline.wait(job["jobId"], token=TOKEN, timeout=60)["status"] == "completed"
    final = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    assert final.status == 200 and streamed[44:] == final.body[44:] == wav_pcm(final.body)
    assert list(struct.unpack("<400h", streamed[44:])) == [len(chunks[0])] * 200 + [len(chunks[1])] * 200


def test_stream_of_a_completed_or_single_request_job_is_the_normal_audio(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=TOKEN, text="one request")
    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio?stream=1", token=TOKEN)
    assert reply.status == 200 and int(reply.headers["content-length"]) == len(reply.body)
    assert reply.body == pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN).body
    bad = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio?stream=yes", token=TOKEN)
    assert bad.status == 400 and bad.json()["error"]["field"] == "stream"


def test_the_page_plays_a_long_job_while_it_is_made(pipeline: Pipeline, browser: Any) -> None:
    text = " ".join(f"Sentence {i} of a long story, told slowly enough to need two requests." for i in range(79))
    text += " The last one waits upstream, zzz."
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    t0 = time.monotonic()
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{time.monotonic() - t0:.2f} > {r.url}"))
    page.on("requestfinished", lambda r: seen.append(f"{time.monotonic() - t0:.2f} < {r.url}"))
    try:
        page.goto(f"http://127.0.0.1:{pipeline.port}/")
        page.get_by_label("API token").first.wait_for()
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        page.get_by_label("Model").select_option("openai/tts-1")
        page.get_by_label("Format").select_option("wav")
        page.get_by_label("Text").fill(text)
        page.get_by_role("button", name="Speak").click()
        # the first chunk's 200 samples are scheduled in Web Audio while chunk 1 is held upstream
        page.wait_for_function(
            "() => Number(document.getElementById('player').dataset.streamedFrames || 0) >= 200", timeout=30_000
        )
        job_id = page.inner_text("#job-id")
        status = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN).json()["status"]
        assert status == "processing", "\n".join(seen)
        page.wait_for_selector("#job-status.completed", timeout=60_000)
        page.wait_for_function("() => Number(document.getElementById('player').dataset.streamedFrames) === 400")
        assert problems == []
    finally:
        page.close()
