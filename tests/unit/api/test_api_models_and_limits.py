"""GET /v1/models (configured providers only) and POST /v1/jobs checks against the chosen model:
format, sampleRate, speed, instructions, the per-job cap (422 naming text), unjoinable long jobs."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import replace
from typing import Any

from shared.api.app import ApiApp
from shared.bootstrap import api_app
from shared.config import Settings
from shared.http import HttpRequest, HttpResponse
from shared.jobs.shard import Get
from shared.synthesis.providers import build_catalogue
from tests.fakes import FakeClock, MemoryQueue, MemoryShards, bootstrap_test_app

TOKEN = "alice-token"


class NoHttp:
    async def request(self, *args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called here
        raise AssertionError("no provider call in API tests")


def app(**env: str) -> tuple[ApiApp, MemoryShards]:
    clock = FakeClock()
    config = Settings.from_env({"API_TOKENS": f"alice:{TOKEN}", "SHARD_COUNT": "2", **env})
    shards = MemoryShards(clock, shard_count=2)
    ids = (f"{n:032x}" for n in itertools.count(1)).__next__
    api = api_app(bootstrap_test_app(
        config, clock=clock, shards=shards, queue=MemoryQueue(), catalogue=lambda: build_catalogue(config, http=NoHttp()),
        new_job_id=ids, log_stream=io.StringIO(),
    ))
    return api, shards


async def call(api: ApiApp, method: str, path: str, body: Any = None) -> HttpResponse:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    raw = b""
    if body is not None:
        raw = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    return await api.handle(HttpRequest.build(method, path, headers=headers, body=raw, base_url="https://api.test"))


def data(response: HttpResponse) -> Any:
    return json.loads(response.body)


async def test_models_lists_only_configured_providers() -> None:
    bare, _ = app()
    assert [m["id"] for m in data(await call(bare, "GET", "/v1/models"))["models"]] == ["tone"]
    configured, _ = app(OPENAI_API_KEY="sk-x", GEMINI_API_KEY="g", CLOUDFLARE_ACCOUNT_ID="a", CLOUDFLARE_API_TOKEN="t")
    models = {m["id"]: m for m in data(await call(configured, "GET", "/v1/models"))["models"]}
    assert "openai/tts-1" in models and "gemini/gemini-3.8-flash-tts" in models and "@cf/deepgram/aura-2-en" in models
    assert not any(m.startswith("elevenlabs/") for m in models)
    aura = models["@cf/deepgram/aura-2-en"]
    assert aura["provider"] == "workers-ai" and aura["maxInputChars"] == 2000 and "luna" in aura["voices"]
    assert aura["formatSampleRates"]["mp3"] == [22050] and aura["joinableFormats"] == ["mp3", "wav", "pcm"]
    # 2 GiB of MP3 is over a million characters: MAX_TEXT_CHARS (100,000) is the smaller limit
    assert aura["maxAudioBytes"] == 2 * 1024**3 and aura["maxJobChars"] == 100_000
    assert "sk-x" not in json.dumps(models)


async def test_job_character_limits_follow_max_audio_bytes() -> None:
    api, _ = app(MAX_AUDIO_BYTES="28800000")  # 10,000 characters of tone: 60 ms of 24 kHz 16-bit WAV each
    (tone,) = data(await call(api, "GET", "/v1/models"))["models"]
    assert tone["maxAudioBytes"] == 28_800_000 and tone["maxJobChars"] == 10_000
    assert tone["maxInputChars"] == 2_000  # one request; longer text is chunked
    reply = await call(api, "POST", "/v1/jobs", {"text": "a" * 10_001})
    assert reply.status == 422 and "at most 29 MB" in data(reply)["error"]["message"]
    assert (await call(api, "POST", "/v1/jobs", {"text": "a. " * 3_333})).status == 202


async def test_a_model_whose_provider_is_not_configured_is_refused() -> None:
    api, _ = app()
    reply = await call(api, "POST", "/v1/jobs", {"text": "hi", "model": "openai/tts-1"})
    assert reply.status == 422 and data(reply)["error"]["field"] == "model"
    error = data(reply)["error"]
    assert "is not configured here (it needs OPENAI_API_KEY" in error["message"]
    assert error["allowed"] == ["tone"]  # only what this deployment can run


async def test_unknown_model_lists_only_models_usable_here() -> None:
    api, _ = app()
    error = data(await call(api, "POST", "/v1/jobs", {"text": "hi", "model": "nope"}))["error"]
    assert error["allowed"] == ["tone"] and error["message"].endswith("available here: 'tone'")


async def test_models_names_the_default_and_a_job_without_model_gets_it() -> None:
    api, _ = app()
    body = data(await call(api, "GET", "/v1/models"))
    assert body["defaultModel"] == "tone" and [m["default"] for m in body["models"]] == [True]
    reply = await call(api, "POST", "/v1/jobs", {"text": "hi"})
    assert reply.status == 202 and data(reply)["model"] == "tone"


async def test_sample_rate_speed_and_instructions_are_stored_and_shown() -> None:
    api, shards = app(OPENAI_API_KEY="sk-x")
    reply = await call(
        api, "POST", "/v1/jobs",
        {"text": "Hello", "model": "openai/gpt-4o-mini-tts", "format": "wav", "sampleRate": 24000, "speed": 1.5, "instructions": "Whisper."},
    )
    assert reply.status == 202, reply.body
    view = data(reply)
    assert view["sampleRate"] == 24000 and "progress" not in view
    record = await shards.client.call(Get(job_id=view["jobId"]))
    assert record is not None and (record.sample_rate, record.speed, record.instructions) == (24000, 1.5, "Whisper.")
    tone = data(await call(api, "POST", "/v1/jobs", {"text": "Hello", "format": "pcm"}))
    assert tone["sampleRate"] == 24000  # the model's default, filled in


async def test_options_are_checked_against_the_model() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x", ELEVENLABS_API_KEY="xi", GEMINI_API_KEY="g")
    cases = [
        ({"text": "hi", "model": "openai/tts-1", "sampleRate": 44100}, "sampleRate", "24000"),
        ({"text": "hi", "model": "elevenlabs/eleven_v3", "format": "mp3", "sampleRate": 48000}, "sampleRate", "in mp3"),
        ({"text": "hi", "model": "openai/tts-1", "speed": 5}, "speed", "0.25 to 4"),
        ({"text": "hi", "model": "tone", "speed": 4.5}, "speed", "0.25 to 4"),
        ({"text": "hi", "model": "gemini/gemini-3.8-flash-tts", "speed": 1.2}, "speed", "takes no speed"),
        ({"text": "hi", "model": "openai/tts-1", "instructions": "calm"}, "instructions", "takes no instructions"),
        ({"text": "hi", "model": "openai/tts-1", "format": "midi"}, "format", "'mp3'"),
    ]
    for body, field, needle in cases:
        reply = await call(api, "POST", "/v1/jobs", body)
        assert reply.status == 422, body
        error = data(reply)["error"]
        assert error["field"] == field and needle in error["message"], error


async def test_text_over_the_models_audio_cap_is_422_naming_text() -> None:
    api, _ = app(MAX_AUDIO_BYTES="32000000")
    ok = await call(api, "POST", "/v1/jobs", {"text": "x" * 11_111, "model": "tone"})
    assert ok.status == 202  # 11,111 x 2,880 bytes of 24 kHz WAV: just under 32 MB
    reply = await call(api, "POST", "/v1/jobs", {"text": "x" * 11_112, "model": "tone"})
    error = data(reply)["error"]
    assert reply.status == 422 and error["field"] == "text" and error["code"] == "text_too_long"
    assert "11,111-character limit" in error["message"] and "at most 32 MB" in error["message"]
    assert error["maxChars"] == 11_111 and "allowed" not in error  # no empty "allowed": []
    # a lower rate makes room for more text
    assert (await call(api, "POST", "/v1/jobs", {"text": "x" * 15_000, "model": "tone", "sampleRate": 16000})).status == 202


async def test_long_text_in_a_format_that_cannot_be_joined_is_refused_up_front() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x")
    long_text = "A sentence of some length, to fill the request. " * 100  # ~4,900 characters: two requests
    reply = await call(api, "POST", "/v1/jobs", {"text": long_text, "model": "openai/tts-1", "format": "opus"})
    error = data(reply)["error"]
    assert reply.status == 422 and error["field"] == "format"
    assert "needs 2 requests" in error["message"] and error["allowed"] == ["wav", "pcm", "mp3"]
    assert (await call(api, "POST", "/v1/jobs", {"text": long_text, "model": "openai/tts-1", "format": "mp3"})).status == 202
    assert (await call(api, "POST", "/v1/jobs", {"text": long_text[:4000], "model": "openai/tts-1", "format": "opus"})).status == 202


def test_settings_keep_secrets_out_of_repr() -> None:
    config = replace(Settings(), openai_api_key="sk-secret", gemini_api_key="g-secret", cloudflare_api_token="cf-secret")
    assert "secret" not in repr(config)
