"""GET /v1/jobs/{id}/captions.vtt, /captions.srt and /timestamps: who may read them, and the clear
answers when there are none (404), none yet (409) or none any more (410); timestamps at submit."""

from __future__ import annotations

import json

from shared.api.app import ApiApp
from shared.captions.document import build_document
from shared.words import WordTiming
from shared.http import HttpRequest
from shared.jobs.shard import Claim, Complete, Get
from shared.keys import timings_key
from tests.fakes import MemoryShards
from tests.unit.api.test_api_models_and_limits import TOKEN, app, call, data

TEXT = "Hello there, world. Bye."


async def submitted(api: ApiApp, **fields: object) -> str:
    reply = await call(api, "POST", "/v1/jobs", {"text": TEXT, "timestamps": "word", **fields})
    assert reply.status == 202, reply.body
    assert data(reply)["timestamps"] == "word"
    return str(data(reply)["jobId"])


async def complete(api: ApiApp, shards: MemoryShards, job_id: str, *, with_timings: bool = True) -> None:
    record = await shards.client.call(Claim(job_id=job_id, lease_seconds=60))
    words = [WordTiming(0.0, 0.4, 0, 5), WordTiming(0.5, 0.9, 6, 12), WordTiming(1.0, 1.4, 13, 19), WordTiming(1.8, 2.0, 20, 24)]
    if with_timings:
        doc = build_document(job_id, "tone", TEXT, words, timings="exact", method="computed", duration=2.5)
        await api.deps.bucket.put(timings_key(job_id, record.created_at), json.dumps(doc.to_json_dict()).encode(),
                                  content_type="application/json", custom_metadata={})
    key = f"audio/2026/11/24/{job_id}.wav"
    info = await api.deps.bucket.put(key, b"\x01" * 10, content_type="audio/wav", custom_metadata={})
    await shards.client.call(
        Complete(
            job_id=job_id,
            audio_key=key,
            mime_type="audio/wav",
            size_bytes=10,
            etag=info.etag,
            characters=len(TEXT),
        )
    )


async def test_a_completed_job_serves_vtt_srt_and_json() -> None:
    api, shards = app()
    job_id = await submitted(api)
    await complete(api, shards, job_id)
    vtt = await call(api, "GET", f"/v1/jobs/{job_id}/captions.vtt")
    assert vtt.status == 200 and vtt.headers["Content-Type"] == "text/vtt; charset=utf-8"
    assert vtt.body.decode() == (
        "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.400\nHello there, world.\n\n2\n00:00:01.800 --> 00:00:02.000\nBye.\n"
    )
    srt = await call(api, "GET", f"/v1/jobs/{job_id}/captions.srt")
    assert srt.status == 200 and srt.body.decode().startswith("1\n00:00:00,000 --> 00:00:01,400\nHello there, world.\n")
    reply = await call(api, "GET", f"/v1/jobs/{job_id}/timestamps")
    assert reply.status == 200 and reply.blob is not None and reply.headers["Content-Type"] == "application/json"
    stamps = json.loads(await reply.blob.read())  # streamed from R2 as stored
    assert reply.headers["Content-Length"] == str(reply.blob.info.size)
    assert stamps["words"][1] == {"word": "there,", "start": 0.5, "end": 0.9, "charStart": 6, "charEnd": 12}
    assert stamps["timings"] == "exact" and stamps["duration"] == 2.5
    job = data(await call(api, "GET", f"/v1/jobs/{job_id}"))
    assert job["captionsUrl"] == f"https://api.test/v1/jobs/{job_id}/captions.vtt"


async def test_etag_gives_304() -> None:
    api, shards = app()
    job_id = await submitted(api)
    await complete(api, shards, job_id)
    first = await call(api, "GET", f"/v1/jobs/{job_id}/captions.vtt")
    headers = {"Authorization": f"Bearer {TOKEN}", "If-None-Match": first.headers["ETag"]}
    again = await api.handle(HttpRequest.build("GET", f"/v1/jobs/{job_id}/captions.vtt", headers=headers))
    assert again.status == 304 and again.body == b""


async def test_clear_errors_when_there_are_no_captions() -> None:
    api, shards = app()
    plain = data(await call(api, "POST", "/v1/jobs", {"text": TEXT}))["jobId"]
    reply = await call(api, "GET", f"/v1/jobs/{plain}/captions.vtt")
    assert reply.status == 404 and data(reply)["error"]["code"] == "timestamps_not_requested"
    waiting = await submitted(api)
    reply = await call(api, "GET", f"/v1/jobs/{waiting}/timestamps")
    assert reply.status == 409 and data(reply)["error"]["code"] == "not_ready" and data(reply)["error"]["status"] == "queued"
    gone = await submitted(api)
    await complete(api, shards, gone, with_timings=False)
    reply = await call(api, "GET", f"/v1/jobs/{gone}/captions.srt")
    assert reply.status == 410 and data(reply)["error"]["code"] == "timings_gone"
    assert (await call(api, "GET", f"/v1/jobs/{'f' * 32}/captions.vtt")).status == 404


async def test_the_token_or_a_signed_link_is_needed() -> None:
    api, shards = app(SIGNING_KEY="s" * 32)
    job_id = await submitted(api)
    await complete(api, shards, job_id)
    anonymous = await api.handle(HttpRequest.build("GET", f"/v1/jobs/{job_id}/captions.vtt"))
    assert anonymous.status == 401
    url = data(await call(api, "GET", f"/v1/jobs/{job_id}"))["captionsUrl"]
    path = url.removeprefix("https://api.test")
    signed = await api.handle(HttpRequest.build("GET", path))
    assert signed.status == 200 and signed.body.startswith(b"WEBVTT")
    json_path = path.replace("captions.vtt", "timestamps")
    assert (await api.handle(HttpRequest.build("GET", json_path))).status == 200
    tampered = await api.handle(HttpRequest.build("GET", path[:-3] + ("000" if not path.endswith("000") else "111")))
    assert tampered.status == 403


async def test_delete_removes_the_timings() -> None:
    api, shards = app()
    job_id = await submitted(api)
    await complete(api, shards, job_id)
    record = await shards.client.call(Get(job_id=job_id))
    assert record is not None and timings_key(job_id, record.created_at) in api.deps.bucket.objects  # type: ignore[attr-defined]
    assert (await call(api, "DELETE", f"/v1/jobs/{job_id}")).status == 204
    assert not any(job_id in k for k in api.deps.bucket.objects)  # type: ignore[attr-defined]


async def test_timestamps_are_checked_at_submit() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x")
    bad = await call(api, "POST", "/v1/jobs", {"text": "hi", "timestamps": "syllable"})
    assert bad.status == 422 and data(bad)["error"]["field"] == "timestamps"
    opus = await call(api, "POST", "/v1/jobs", {"text": "hi", "model": "openai/tts-1", "format": "opus", "timestamps": "word"})
    error = data(opus)["error"]
    assert opus.status == 422 and error["field"] == "timestamps" and "estimated" in error["message"]
    assert error["allowed"] == ["wav", "pcm", "mp3"]
    ok = await call(api, "POST", "/v1/jobs", {"text": "hi", "model": "openai/tts-1", "format": "mp3", "timestamps": "word"})
    assert ok.status == 202


async def test_a_model_without_timings_is_a_422_naming_the_field() -> None:
    api, _ = app()
    tone = api.deps.catalogue.get("tone")  # type: ignore[attr-defined]
    api.deps.catalogue.add(tone.model_copy(update={"timestamps": "none"}))  # type: ignore[attr-defined]
    reply = await call(api, "POST", "/v1/jobs", {"text": "hi", "model": "tone", "timestamps": "word"})
    assert reply.status == 422 and data(reply)["error"]["field"] == "timestamps"
    assert "gives no word timings" in data(reply)["error"]["message"]


async def test_models_say_how_they_time_words() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x", ELEVENLABS_API_KEY="xi")
    models = {m["id"]: m for m in data(await call(api, "GET", "/v1/models"))["models"]}
    assert models["tone"]["timestamps"] == "exact" and models["tone"]["timestampsFormats"] == ["wav", "pcm"]
    assert models["elevenlabs/eleven_multilingual_v2"]["timestamps"] == "exact"
    assert models["elevenlabs/eleven_multilingual_v2"]["timestampsFormats"] == ["mp3", "wav", "pcm", "opus"]
    openai = models["openai/tts-1"]
    assert openai["timestamps"] == "estimated" and openai["timestampsMethod"].startswith("estimated")
    assert "opus" not in openai["timestampsFormats"]


async def test_openapi_documents_the_routes() -> None:
    api, _ = app()
    doc = data(await call(api, "GET", "/openapi.json"))
    for tail in ("captions.vtt", "captions.srt", "timestamps"):
        assert f"/v1/jobs/{{job_id}}/{tail}" in doc["paths"]
    assert "timestamps" in doc["components"]["schemas"]["CreateJobRequest"]["properties"]


