"""The whole pipeline as a process on loopback: HTTP in, audio out."""

from __future__ import annotations

import base64
import wave
import io
from collections.abc import Iterator

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

ALICE = "alice-token"
BOB = "bob-token"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    p = Pipeline(
        tmp_path_factory.mktemp("pipeline"), env={"API_TOKENS": f"alice:{ALICE},bob:{BOB}"}, runtime=runtime
    ).start()
    yield p
    p.stop()


def completed(pipeline: Pipeline, token: str = ALICE, **fields: object) -> dict:
    job = pipeline.submit(token=token, **fields)  # type: ignore[arg-type]
    done = pipeline.wait(job["jobId"], token=token)
    assert done["status"] == "completed", done
    return done


def test_submit_returns_202_with_location_and_queued_job(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "Hi", "model": "tone"}, token=ALICE)
    assert reply.status == 202
    job = reply.json()
    assert job["status"] == "queued"
    assert reply.headers["location"] == f"/v1/jobs/{job['jobId']}"


ESPEAK = pytest.param("espeak", marks=pytest.mark.local_only("espeak is a native library: not in Pyodide"))


@pytest.mark.parametrize("model", ["tone", ESPEAK])
def test_happy_path_produces_playable_wav(pipeline: Pipeline, model: str) -> None:
    job = completed(pipeline, text="Hello from the pipeline", model=model)
    assert job["mimeType"] == "audio/wav" and job["sizeBytes"] > 1000
    assert job["audioUrl"].endswith(f"/v1/jobs/{job['jobId']}/audio")
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    assert audio.status == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert int(audio.headers["content-length"]) == len(audio.body) == job["sizeBytes"]
    with wave.open(io.BytesIO(audio.body)) as w:
        assert w.getnframes() > 0


def test_audio_far_above_128_kib_round_trips(pipeline: Pipeline) -> None:
    # The original bug: results over the Durable Object's 128 KiB value limit.
    job = completed(pipeline, text="x" * 2000, model="tone")
    assert job["sizeBytes"] > 5 * 128 * 1024
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    assert len(audio.body) == job["sizeBytes"]


def test_legacy_result_contract(pipeline: Pipeline) -> None:
    job = completed(pipeline, text="legacy clients")
    result = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/result", token=ALICE).json()
    assert set(result) == {"jobId", "status", "base64Audio", "mimeType"}
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE).body
    assert base64.b64decode(result["base64Audio"]) == audio
    assert result["mimeType"] == "audio/wav" and result["status"] == "completed"


def test_legacy_result_before_completion_has_null_audio(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=ALICE, text="y" * 8000)
    result = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/result", token=ALICE).json()
    if result["status"] != "completed":
        assert result["base64Audio"] is None and result["mimeType"] is None
    pipeline.wait(job["jobId"], token=ALICE)


def test_range_and_if_none_match(pipeline: Pipeline) -> None:
    job = completed(pipeline, text="ranges")
    path = f"/v1/jobs/{job['jobId']}/audio"
    full = pipeline.request("GET", path, token=ALICE)
    part = pipeline.request("GET", path, token=ALICE, headers={"Range": "bytes=10-19"})
    assert part.status == 206 and part.body == full.body[10:20]
    assert part.headers["content-range"] == f"bytes 10-19/{len(full.body)}"
    tail = pipeline.request("GET", path, token=ALICE, headers={"Range": "bytes=-4"})
    assert tail.status == 206 and tail.body == full.body[-4:]
    beyond = pipeline.request("GET", path, token=ALICE, headers={"Range": f"bytes={len(full.body)}-"})
    assert beyond.status == 416 and beyond.headers["content-range"] == f"bytes */{len(full.body)}"
    cached = pipeline.request("GET", path, token=ALICE, headers={"If-None-Match": full.headers["etag"]})
    assert cached.status == 304 and cached.body == b""


def test_audio_of_unfinished_job_is_409(pipeline: Pipeline) -> None:
    job = pipeline.submit(token=ALICE, text="z" * 8000)
    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    if reply.status == 409:
        assert reply.json()["error"]["code"] == "not_ready"
    else:  # it was fast enough to finish already
        assert reply.status == 200
    pipeline.wait(job["jobId"], token=ALICE)


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({"text": ""}, 422, "text"),
        ({"text": "   "}, 422, "text"),
        ({}, 422, "text"),
        ({"text": 5}, 422, "text"),
        ({"text": "hi", "model": "nope"}, 422, "model"),
        ({"text": "hi", "model": "tone", "voiceId": "nobody"}, 422, "voiceId"),
        ({"text": "hi", "model": "tone", "format": "ogg"}, 422, "format"),
        ({"text": "hi", "model": "tone\r\nX-Evil: 1"}, 422, "model"),
        ({"text": "hi", "colour": "blue"}, 422, "colour"),
        ({"text": "hi", "ttlSeconds": 1}, 422, "ttlSeconds"),
        ({"text": "a" * 100_001}, 422, "text"),
    ],
)
def test_validation_errors_name_the_field(pipeline: Pipeline, body: dict, status: int, field: str) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body=body, token=ALICE)
    assert reply.status == status, reply.body
    assert reply.json()["error"]["field"] == field


def test_malformed_json_and_wrong_content_type(pipeline: Pipeline) -> None:
    bad = pipeline.request("POST", "/v1/jobs", body=b"{nope", headers={"Content-Type": "application/json"}, token=ALICE)
    assert bad.status == 400 and bad.json()["error"]["code"] == "invalid_json"
    form = pipeline.request("POST", "/v1/jobs", body=b"text=hi", headers={"Content-Type": "text/plain"}, token=ALICE)
    assert form.status == 415
    array = pipeline.request("POST", "/v1/jobs", json_body=["text"], token=ALICE)
    assert array.status == 422


def test_unknown_and_odd_job_ids_are_404(pipeline: Pipeline) -> None:
    for path in ("/v1/jobs/" + "0" * 32, "/v1/jobs/..%2F..%2Fetc", "/v1/jobs/%00", "/v1/jobs/" + "A" * 32 + "/audio"):
        reply = pipeline.request("GET", path, token=ALICE)
        assert reply.status == 404, path
        assert reply.json()["error"]["code"] == "not_found"


def test_missing_or_wrong_token_is_the_same_401(pipeline: Pipeline) -> None:
    none = pipeline.request("GET", "/v1/jobs")
    wrong = pipeline.request("GET", "/v1/jobs", token="guess")
    assert none.status == wrong.status == 401
    assert none.body == wrong.body
    assert none.headers["www-authenticate"].startswith("Bearer")


def test_tenants_never_see_each_others_jobs(pipeline: Pipeline) -> None:
    job = completed(pipeline, token=ALICE, text="alice only")
    for method, suffix in (("GET", ""), ("GET", "/audio"), ("GET", "/result"), ("DELETE", "")):
        reply = pipeline.request(method, f"/v1/jobs/{job['jobId']}{suffix}", token=BOB)
        assert reply.status == 404, (method, suffix)
    listed = pipeline.request("GET", "/v1/jobs?limit=100", token=BOB).json()["jobs"]
    assert job["jobId"] not in [j["jobId"] for j in listed]
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=ALICE).status == 200


def test_list_pages_newest_first_with_cursor(pipeline: Pipeline) -> None:
    token = BOB
    ids = [pipeline.submit(token=token, text=f"job {i}")["jobId"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        path = "/v1/jobs?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = pipeline.request("GET", path, token=token).json()
        seen += [j["jobId"] for j in page["jobs"]]
        cursor = page.get("nextCursor")
        if not cursor:
            break
    assert [i for i in seen if i in ids] == list(reversed(ids))
    assert pipeline.request("GET", "/v1/jobs?limit=0", token=token).status == 400
    assert pipeline.request("GET", "/v1/jobs?cursor=@@", token=token).status == 400


def test_delete_removes_job_and_audio(pipeline: Pipeline) -> None:
    job = completed(pipeline, text="delete me")
    assert any(job["jobId"] in key for key in pipeline.object_keys())
    assert pipeline.request("DELETE", f"/v1/jobs/{job['jobId']}", token=ALICE).status == 204
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=ALICE).status == 404
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE).status == 404
    assert pipeline.request("DELETE", f"/v1/jobs/{job['jobId']}", token=ALICE).status == 404
    assert not any(job["jobId"] in key for key in pipeline.object_keys())


def test_openapi_document_lists_every_route(pipeline: Pipeline) -> None:
    doc = pipeline.request("GET", "/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/audio", "/v1/jobs/{job_id}/result"} <= set(doc["paths"])


def test_wrong_method_is_405_with_allow(pipeline: Pipeline) -> None:
    reply = pipeline.request("PUT", "/v1/jobs", token=ALICE)
    assert reply.status == 405 and "POST" in reply.headers["allow"]


def test_head_of_audio_sends_headers_only(pipeline: Pipeline) -> None:
    job = completed(pipeline, text="head")
    reply = pipeline.request("HEAD", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    assert reply.status == 200 and reply.body == b""
    assert int(reply.headers["content-length"]) == job["sizeBytes"]
    # the connection is still usable afterwards: nothing was left open or half sent
    assert pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=ALICE).status == 200


def test_non_ascii_text_survives_every_boundary(pipeline: Pipeline) -> None:
    # Emoji are one code point in Python and two UTF-16 units in JS.
    text = "Grüße, 世界 👋🏽!"
    job = completed(pipeline, text=text)
    assert job["characters"] == len(text)
    listed = pipeline.request("GET", "/v1/jobs?limit=100", token=ALICE).json()
    assert job["jobId"] in [j["jobId"] for j in listed["jobs"]]


def test_mp3_is_offered_where_the_runtime_can_encode_it(pipeline: Pipeline) -> None:
    # The local runtime encodes the offline models' PCM with LAME (lameenc); a Worker has no encoder.
    models = {m["id"]: m for m in pipeline.request("GET", "/v1/models", token=ALICE).json()["models"]}
    assert ("mp3" in models["tone"]["formats"]) == (pipeline.runtime == "local")
    if pipeline.runtime != "local":
        reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "Hi", "model": "tone", "format": "mp3"}, token=ALICE)
        assert reply.status == 422 and "mp3" not in reply.json()["error"].get("allowed", []), reply.body[:300]


@pytest.mark.local_only("MP3 comes from lameenc, a native wheel: not in Pyodide")
@pytest.mark.parametrize("model", ["tone", "espeak"])
def test_an_mp3_job_gives_one_mp3_file(pipeline: Pipeline, model: str) -> None:
    from shared.audio.mp3 import parse_mp3

    job = completed(pipeline, text="An MP3, please. " * 20, model=model, format="mp3")
    assert job["mimeType"] == "audio/mpeg"
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    assert audio.status == 200 and audio.headers["content-type"] == "audio/mpeg"
    assert len(audio.body) == job["sizeBytes"]
    info = parse_mp3(audio.body)
    assert len(info.frames) > 10 and {f.channels for f in info.frames} == {1}
