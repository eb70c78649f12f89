"""The Gemini TTS provider against a loopback server speaking ``generateContent``."""

from __future__ import annotations

import base64

import pytest

from local_runtime.http_client import LocalHttpClient
from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import SynthesisRequest
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.gemini import GeminiSpeechSynthesizer
from shared.audio.wav import parse_wav, wav_pcm
from tests.provider_server import FakeServer, Reply

KEY = "AIza-test-key-0123456789"
PCM = b"\x05\x00\xfb\xff" * 1200


def synth(server: FakeServer, http: LocalHttpClient, timeout: float = 5.0) -> GeminiSpeechSynthesizer:
    return GeminiSpeechSynthesizer(http, api_key=KEY, base_url=f"{server.url}/v1beta", timeout=timeout)


def req(fmt: str = "wav", **kw: object) -> SynthesisRequest:
    return SynthesisRequest("Have a wonderful day!", "gemini/gemini-3.8-flash-tts", "Kore", fmt, 24000, **kw)  # type: ignore[arg-type]


def audio_reply(pcm: bytes = PCM, mime: str = "audio/L16;codec=pcm;rate=24000") -> Reply:
    return Reply.json(
        200,
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"inlineData": {"mimeType": mime, "data": base64.b64encode(pcm).decode()}}]},
                 "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 30, "totalTokenCount": 38},
            "modelVersion": "gemini-3.8-flash-tts",
        },
    )


async def test_request_follows_the_contract_and_pcm_is_wrapped_as_wav(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(audio_reply())
    result = await synth(server, http).synthesize(req())
    seen = server.requests[0]
    assert (seen.method, seen.path, seen.query) == ("POST", "/v1beta/models/gemini-3.8-flash-tts:generateContent", "")
    assert seen.headers["x-goog-api-key"] == KEY and KEY not in seen.target
    assert seen.json() == {
        "contents": [{"parts": [{"text": "Have a wonderful day!"}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
        },
    }
    info = parse_wav(result.audio)
    assert (info.sample_rate, info.channels, info.sample_width) == (24000, 1, 2)
    assert wav_pcm(result.audio) == PCM and result.mime_type == "audio/wav"


async def test_pcm_request_and_instructions(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(audio_reply(mime="audio/L16;codec=pcm;rate=16000"))
    result = await synth(server, http).synthesize(req(fmt="pcm", instructions="Say cheerfully"))
    assert server.requests[0].json()["contents"][0]["parts"][0]["text"] == "Say cheerfully: Have a wonderful day!"
    assert result.audio == PCM and result.mime_type == "audio/pcm;rate=16000;channels=1"
    assert result.characters == len("Say cheerfully: Have a wonderful day!")  # what is billed


async def test_429_retry_info_gives_the_delay(server: FakeServer, http: LocalHttpClient) -> None:
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota, please check your plan and billing details.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}],
        }
    }
    server.script(Reply.json(429, body))
    with pytest.raises(TransientSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert caught.value.retry_after == 37 and "RESOURCE_EXHAUSTED: You exceeded your current quota" in str(caught.value)


async def test_retry_after_header_wins_over_retry_info(server: FakeServer, http: LocalHttpClient) -> None:
    body = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE",
                      "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "60s"}]}}
    server.script(Reply.json(503, body, {"Retry-After": "5"}))
    with pytest.raises(TransientSynthesisError) as caught:
        await synth(server, http).synthesize(req())
    assert caught.value.retry_after == 5


async def test_400_and_403_are_permanent(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(
        Reply.json(400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.", "status": "INVALID_ARGUMENT"}}),
        Reply.json(403, {"error": {"code": 403, "message": "Permission denied.", "status": "PERMISSION_DENIED"}}),
    )
    with pytest.raises(PermanentSynthesisError, match="HTTP 400: INVALID_ARGUMENT: API key not valid"):
        await synth(server, http).synthesize(req())
    with pytest.raises(PermanentSynthesisError, match="PERMISSION_DENIED"):
        await synth(server, http).synthesize(req())


async def test_500_then_success(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(500, {"error": {"code": 500, "message": "Internal error", "status": "INTERNAL"}}), audio_reply())
    provider = synth(server, http)
    with pytest.raises(TransientSynthesisError):
        await provider.synthesize(req())
    assert (await provider.synthesize(req())).extension == "wav"


async def test_blocked_prompt_is_permanent(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply.json(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}))
    with pytest.raises(PermanentSynthesisError, match="refused the text: PROHIBITED_CONTENT"):
        await synth(server, http).synthesize(req())


@pytest.mark.parametrize(
    "reply",
    [
        Reply.json(200, {"candidates": [{"content": {"parts": [{"text": "I cannot do audio"}]}, "finishReason": "OTHER"}]}),
        Reply.json(200, {"candidates": [{"content": {"parts": [{"inlineData": {"mimeType": "audio/L16", "data": "!!notbase64!!"}}]}}]}),
        Reply(200, b"<html>oops</html>", {"Content-Type": "text/html"}),
        Reply.json(200, {"candidates": []}),
    ],
)
async def test_garbage_bodies_are_transient(server: FakeServer, http: LocalHttpClient, reply: Reply) -> None:
    server.script(reply)
    with pytest.raises(BadAudioError):
        await synth(server, http).synthesize(req())


async def test_timeout(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, b"{}", delay=30))
    with pytest.raises(TransientSynthesisError, match="gemini: no response within"):
        await synth(server, http, timeout=0.2).synthesize(req())
