"""The OpenAI provider against a loopback server speaking ``POST /v1/audio/speech``."""

from __future__ import annotations

import pytest

from local_runtime.http_client import LocalHttpClient
from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import SynthesisRequest
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.openai import OpenAISpeechSynthesizer, openai_specs
from shared.audio.wav import parse_wav
from tests.audio_samples import mp3_file, ramp_wav

from tests.provider_server import FakeServer, Reply

KEY = "sk-test-0123456789abcdef"


def synth(server: FakeServer, http: LocalHttpClient, *, key: str | None = KEY, timeout: float = 5.0) -> OpenAISpeechSynthesizer:
    return OpenAISpeechSynthesizer(http, base_url=f"{server.url}/v1", api_key=key, timeout=timeout)


def req(text: str = "Hello there.", fmt: str = "mp3", **kw: object) -> SynthesisRequest:
    return SynthesisRequest(text=text, model="openai/gpt-4o-mini-tts", voice="coral", format=fmt, **kw)  # type: ignore[arg-type]


def error_body(message: str, code: str | None = None, type_: str = "invalid_request_error") -> dict[str, object]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


async def test_request_follows_the_contract_and_mp3_comes_back(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1, 2, 3]), {"Content-Type": "audio/mpeg"}))
    result = await synth(server, http).synthesize(req(speed=1.25, instructions="Speak warmly."))
    seen = server.requests[0]
    assert (seen.method, seen.path) == ("POST", "/v1/audio/speech")
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.json() == {
        "model": "gpt-4o-mini-tts",
        "input": "Hello there.",
        "voice": "coral",
        "response_format": "mp3",
        "speed": 1.25,
        "instructions": "Speak warmly.",
    }
    assert (result.mime_type, result.extension, result.sample_rate) == ("audio/mpeg", "mp3", 44100)
    assert result.characters == len("Hello there.")


async def test_optional_fields_are_left_out(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1]), {"Content-Type": "audio/mpeg"}))
    await synth(server, http).synthesize(SynthesisRequest("Hi", "openai/tts-1", "alloy", "mp3"))
    assert set(server.requests[0].json()) == {"model", "input", "voice", "response_format"}


async def test_pcm_is_raw_24khz(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, b"\x01\x00\x02\x00" * 100, {"Content-Type": "audio/pcm"}, chunked=True))
    result = await synth(server, http).synthesize(req(fmt="pcm"))
    assert result.audio == b"\x01\x00\x02\x00" * 100
    assert result.mime_type == "audio/pcm;rate=24000;channels=1"


async def test_streamed_wav_is_accepted(server: FakeServer, http: LocalHttpClient) -> None:
    wav = bytearray(ramp_wav(2400))
    wav[4:8] = wav[40:44] = b"\xff\xff\xff\xff"  # what a streaming encoder writes
    server.script(Reply(200, bytes(wav), {"Content-Type": "audio/wav"}, chunked=True))
    result = await synth(server, http).synthesize(req(fmt="wav"))
    assert parse_wav(result.audio).frames == 2400 and result.mime_type == "audio/wav"


async def test_a_server_that_ignores_the_format_is_labelled_by_what_it_sent(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1, 2]), {"Content-Type": "audio/mpeg"}))
    result = await synth(server, http).synthesize(req(fmt="wav"))
    assert (result.mime_type, result.extension) == ("audio/mpeg", "mp3")


async def test_429_is_transient_with_retry_after_seconds(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(429, error_body("Rate limit reached for tts-1", "rate_limit_exceeded", "requests"), {"Retry-After": "17"}))
    with pytest.raises(TransientSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert caught.value.retry_after == 17
    assert "HTTP 429" in str(caught.value) and "Rate limit reached for tts-1" in str(caught.value)


async def test_retry_after_as_an_http_date(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(503, error_body("overloaded"), {"Retry-After": "Wed, 21 Oct 2099 07:28:00 GMT"}))
    with pytest.raises(TransientSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert caught.value.retry_after == 12 * 3600  # far future: capped at the queue's longest delay


async def test_500_then_success(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(
        Reply.json(500, error_body("The server had an error while processing your request.", type_="server_error")),
        Reply(200, mp3_file([9]), {"Content-Type": "audio/mpeg"}),
    )
    provider = synth(server, http)
    with pytest.raises(TransientSynthesisError) as caught:
        await provider.synthesize(req())
    assert caught.value.retry_after is None and "HTTP 500" in str(caught.value)
    result = await provider.synthesize(req())  # what the queue's retry does
    assert result.extension == "mp3" and len(server.requests) == 2


@pytest.mark.parametrize(
    "status, message",
    [
        (400, "[{'type': 'string_too_long', 'loc': ('body', 'input'), 'msg': 'String should have at most 4096 characters'}]"),
        (401, "Incorrect API key provided: sk-test-****cdef."),
        (404, "The model `tts-9` does not exist or you do not have access to it."),
    ],
)
async def test_4xx_is_permanent_and_keeps_the_providers_message(
    server: FakeServer, http: LocalHttpClient, status: int, message: str
) -> None:
    server.script(Reply.json(status, error_body(message)))
    with pytest.raises(PermanentSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert f"openai answered HTTP {status}: {message}" == str(caught.value)


async def test_an_echoed_key_is_redacted(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(401, error_body(f"Incorrect API key provided: {KEY}")))
    with pytest.raises(PermanentSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)


async def test_timeout_is_transient(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1]), delay=30))
    with pytest.raises(TransientSynthesisError, match="no response within 0.2 s"):
        await synth(server, http, timeout=0.2).synthesize(req())


async def test_dropped_connection_is_transient(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(drop=True))
    with pytest.raises(TransientSynthesisError, match="request failed"):
        await synth(server, http).synthesize(req())


@pytest.mark.parametrize(
    "reply",
    [
        Reply(200, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}),
        Reply.json(200, error_body("model overloaded")),
        Reply(200, b"", {"Content-Type": "audio/mpeg"}),
    ],
)
async def test_garbage_200_bodies_are_transient(server: FakeServer, http: LocalHttpClient, reply: Reply) -> None:
    server.script(reply)
    with pytest.raises(BadAudioError) as caught:
        await synth(server, http).synthesize(req())
    assert isinstance(caught.value, TransientSynthesisError)


async def test_self_hosted_copy_without_a_key(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, mp3_file([1]), {"Content-Type": "audio/mpeg"}))
    await synth(server, http, key=None).synthesize(req())
    assert "authorization" not in server.requests[0].headers


def test_catalogue_specs() -> None:
    specs = {s.id: s for s in openai_specs()}
    assert set(specs) == {"openai/tts-1", "openai/tts-1-hd", "openai/gpt-4o-mini-tts"}
    assert specs["openai/tts-1"].max_input_chars == 4096 and not specs["openai/tts-1"].supports_instructions
    assert specs["openai/gpt-4o-mini-tts"].supports_instructions and "marin" in specs["openai/gpt-4o-mini-tts"].voices
    assert all(s.speed_range == [0.25, 4.0] and s.sample_rates == [24000] for s in specs.values())
