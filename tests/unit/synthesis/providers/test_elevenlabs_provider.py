"""The ElevenLabs provider against a loopback server speaking ``POST /v1/text-to-speech/{voice_id}``."""

from __future__ import annotations

import pytest

from local_runtime.http_client import LocalHttpClient
from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import SynthesisRequest
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.elevenlabs import PREMADE_VOICES, ElevenLabsSynthesizer, elevenlabs_specs
from shared.audio.wav import parse_wav, wav_pcm
from tests.audio_samples import mp3_file
from tests.provider_server import FakeServer, Reply

KEY = "xi-test-key-0123456789"


def synth(server: FakeServer, http: LocalHttpClient, timeout: float = 5.0) -> ElevenLabsSynthesizer:
    return ElevenLabsSynthesizer(http, api_key=KEY, base_url=server.url, timeout=timeout)


def req(fmt: str = "mp3", rate: int | None = 44100, voice: str = "rachel", **kw: object) -> SynthesisRequest:
    return SynthesisRequest("Hello world.", "elevenlabs/eleven_multilingual_v2", voice, fmt, sample_rate=rate, **kw)  # type: ignore[arg-type]


async def test_request_follows_the_contract(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1, 2]), {"Content-Type": "audio/mpeg"}))
    result = await synth(server, http).synthesize(req(speed=1.1))
    seen = server.requests[0]
    assert seen.method == "POST" and seen.path == f"/v1/text-to-speech/{PREMADE_VOICES['rachel']}"
    assert seen.query == "output_format=mp3_44100_128"
    assert seen.headers["xi-api-key"] == KEY and "authorization" not in seen.headers
    assert seen.json() == {"text": "Hello world.", "model_id": "eleven_multilingual_v2", "voice_settings": {"speed": 1.1}}
    assert (result.mime_type, result.extension) == ("audio/mpeg", "mp3")


async def test_pcm_output_is_wrapped_as_wav_for_a_wav_request(server: FakeServer, http: LocalHttpClient) -> None:
    pcm = b"\x10\x00\x20\x00" * 500
    server.script(Reply(200, pcm, {"Content-Type": "audio/pcm"}))
    result = await synth(server, http).synthesize(req(fmt="wav", rate=16000))
    assert server.requests[0].query == "output_format=pcm_16000"
    info = parse_wav(result.audio)
    assert (info.sample_rate, info.frames) == (16000, 1000) and wav_pcm(result.audio) == pcm
    assert result.mime_type == "audio/wav"


async def test_pcm_request_gets_raw_pcm(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, b"\x01\x00" * 10, {"Content-Type": "audio/pcm"}))
    result = await synth(server, http).synthesize(req(fmt="pcm", rate=24000))
    assert result.audio == b"\x01\x00" * 10 and result.mime_type == "audio/pcm;rate=24000;channels=1"


async def test_a_cloned_voice_id_is_used_as_is(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1]), {"Content-Type": "audio/mpeg"}))
    await synth(server, http).synthesize(req(voice="MyCloneVoiceId123", rate=22050))
    assert server.requests[0].path == "/v1/text-to-speech/MyCloneVoiceId123"
    assert server.requests[0].query == "output_format=mp3_22050_32"


async def test_401_keeps_the_detail_message(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}}))
    with pytest.raises(PermanentSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert str(caught.value) == "elevenlabs answered HTTP 401: invalid_api_key: Invalid API key"
    assert KEY not in str(caught.value)


async def test_400_character_limit(server: FakeServer, http: LocalHttpClient) -> None:
    detail = {
        "status": "max_character_limit_exceeded",
        "message": "This request's text has 10001 characters and exceeds the character limit of 10000 characters.",
    }
    server.script(Reply.json(400, {"detail": detail}))
    with pytest.raises(PermanentSynthesisError, match="max_character_limit_exceeded: This request's text has 10001"):
        await synth(server, http).synthesize(req())


async def test_422_validation_detail_list(server: FakeServer, http: LocalHttpClient) -> None:
    body = {"detail": [{"loc": ["body", "voice_settings", "speed"], "msg": "Input should be less than or equal to 1.2", "type": "less_than_equal"}]}
    server.script(Reply.json(422, body))
    with pytest.raises(PermanentSynthesisError, match=r"HTTP 422: voice_settings.speed: Input should be less than or equal to 1.2"):
        await synth(server, http).synthesize(req(speed=2.0))


async def test_429_too_many_concurrent_requests(server: FakeServer, http: LocalHttpClient) -> None:
    detail = {"status": "too_many_concurrent_requests", "message": "Too many concurrent requests for your plan."}
    server.script(Reply.json(429, {"detail": detail}, {"Retry-After": "3"}))
    with pytest.raises(TransientSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert caught.value.retry_after == 3 and "too_many_concurrent_requests" in str(caught.value)


async def test_500_then_success(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(500, b"Internal Server Error", {"Content-Type": "text/plain"}), Reply(200, mp3_file([1])))
    provider = synth(server, http)
    with pytest.raises(TransientSynthesisError, match="HTTP 500: Internal Server Error"):
        await provider.synthesize(req())
    assert (await provider.synthesize(req())).extension == "mp3"


async def test_timeout_and_garbage(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1]), delay=30))
    with pytest.raises(TransientSynthesisError, match="no response within"):
        await synth(server, http, timeout=0.2).synthesize(req())
    server.script(Reply(200, b"\x00\x01\x02"))  # odd-length "PCM"
    with pytest.raises(BadAudioError):
        await synth(server, http).synthesize(req(fmt="pcm", rate=24000))


def test_catalogue_specs() -> None:
    specs = {s.id: s for s in elevenlabs_specs(["MyCloneVoiceId123"])}
    assert specs["elevenlabs/eleven_multilingual_v2"].max_input_chars == 10_000
    assert specs["elevenlabs/eleven_flash_v2_5"].max_input_chars == 40_000
    assert specs["elevenlabs/eleven_v3"].max_input_chars == 5_000
    spec = specs["elevenlabs/eleven_turbo_v2_5"]
    assert "MyCloneVoiceId123" in spec.voices and spec.rates_for("mp3") == [22050, 44100] and spec.default_rate_for("opus") == 48000
