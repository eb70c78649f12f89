"""Workers AI: the provider over a binding double (aura's binary stream, melotts' base64 JSON),
and the REST adapter against a loopback server speaking /accounts/{id}/ai/run/{model}."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from local_runtime.http_client import LocalHttpClient
from shared.errors import PermanentSynthesisError, TransientSynthesisError
from shared.ports import SynthesisRequest
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.workers_ai import (
    AURA_1,
    AURA_2_EN,
    MELOTTS,
    WorkersAiRestClient,
    WorkersAiSynthesizer,
    classify_ai_error,
    workers_ai_specs,
)
from shared.audio.wav import parse_wav
from tests.audio_samples import mp3_file, ramp_wav
from tests.provider_server import FakeServer, Reply

TOKEN = "cf-api-token-0123456789"
ACCOUNT = "0123456789abcdef0123456789abcdef"


@dataclass
class AiBindingDouble:
    """What ``env.AI.run`` gives back, per the docs: audio bytes for aura, {"audio": base64 MP3} for melotts."""

    calls: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def run(self, model: str, inputs: dict[str, Any], *, timeout: float) -> bytes | dict[str, Any]:
        self.calls.append((model, inputs, timeout))
        if self.errors:
            raise self.errors.pop(0)
        if model == MELOTTS:
            return {"audio": base64.b64encode(mp3_file([1, 2, 3])).decode()}
        encoding, container = inputs["encoding"], inputs["container"]
        if encoding == "linear16":
            wav = ramp_wav(240, rate=inputs.get("sample_rate", 24000))
            return wav if container == "wav" else wav[44:]
        return mp3_file([4, 5], rate=22050, bitrate=48)


async def test_aura_mp3_from_the_binding() -> None:
    ai = AiBindingDouble()
    result = await WorkersAiSynthesizer(ai, timeout=30).synthesize(SynthesisRequest("Hi there", AURA_2_EN, "luna", "mp3", 22050))
    assert ai.calls == [(AURA_2_EN, {"text": "Hi there", "encoding": "mp3", "container": "none", "speaker": "luna"}, 30)]
    assert (result.mime_type, result.extension, result.sample_rate) == ("audio/mpeg", "mp3", 22050)


async def test_aura_wav_and_pcm_send_the_sample_rate() -> None:
    ai = AiBindingDouble()
    synth = WorkersAiSynthesizer(ai)
    wav = await synth.synthesize(SynthesisRequest("Hi", AURA_1, "angus", "wav", 16000))
    pcm = await synth.synthesize(SynthesisRequest("Hi", AURA_1, "angus", "pcm", 16000))
    assert ai.calls[0][1] == {"text": "Hi", "encoding": "linear16", "container": "wav", "speaker": "angus", "sample_rate": 16000}
    assert ai.calls[1][1]["container"] == "none"
    assert parse_wav(wav.audio).sample_rate == 16000 and pcm.mime_type == "audio/pcm;rate=16000;channels=1"


async def test_melotts_base64_json() -> None:
    ai = AiBindingDouble()
    result = await WorkersAiSynthesizer(ai).synthesize(SynthesisRequest("Bonjour", MELOTTS, "fr", "mp3", 44100))
    assert ai.calls[0][1] == {"prompt": "Bonjour", "lang": "fr"}
    assert result.audio == mp3_file([1, 2, 3]) and result.mime_type == "audio/mpeg"


@pytest.mark.parametrize(
    "output",
    [{"result": "nothing"}, {"audio": "%%% not base64 %%%"}, b"", b"<html>error</html>"],
)
async def test_garbage_outputs_are_bad_audio(output: Any) -> None:
    class Garbage:
        async def run(self, model: str, inputs: dict[str, Any], *, timeout: float) -> Any:
            return output

    with pytest.raises(BadAudioError):
        await WorkersAiSynthesizer(Garbage()).synthesize(SynthesisRequest("x", MELOTTS if isinstance(output, dict) else AURA_1, None, "mp3"))


@pytest.mark.parametrize(
    "message, transient",
    [
        ("AiError: 3040: Capacity temporarily exceeded, please try again.", True),
        ("InferenceUpstreamError: 3036: You have used up your daily free allocation of 10,000 neurons.", True),
        ("AiError: 3007: Request timeout", True),
        ("TimeoutError: The operation was aborted due to timeout", True),
        ("AiError: 5007: No such model @cf/deepgram/aura-9 or task", False),
        ("AiError: 5006: Error: required properties at '/' are 'text'", False),
        ("Error: network connection lost", True),
    ],
)
def test_binding_errors_are_classified(message: str, transient: bool) -> None:
    error = classify_ai_error(message)
    assert isinstance(error, TransientSynthesisError if transient else PermanentSynthesisError)
    assert str(error).startswith("workers-ai: ")


# --- the REST API ------------------------------------------------------------


def rest(server: FakeServer, http: LocalHttpClient) -> WorkersAiRestClient:
    return WorkersAiRestClient(http, account_id=ACCOUNT, api_token=TOKEN, base_url=f"{server.url}/client/v4")


async def test_rest_aura_returns_the_audio_bytes(server: FakeServer, http: LocalHttpClient) -> None:
    audio = mp3_file([7, 8], rate=22050, bitrate=48)
    server.script(Reply(200, audio, {"Content-Type": "audio/mpeg"}, chunked=True))
    result = await WorkersAiSynthesizer(rest(server, http)).synthesize(SynthesisRequest("Hi", AURA_2_EN, "thalia", "mp3"))
    seen = server.requests[0]
    assert (seen.method, seen.path) == ("POST", f"/client/v4/accounts/{ACCOUNT}/ai/run/@cf/deepgram/aura-2-en")
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.json() == {"text": "Hi", "encoding": "mp3", "container": "none", "speaker": "thalia"}
    assert result.audio == audio


async def test_rest_melotts_unwraps_the_envelope(server: FakeServer, http: LocalHttpClient) -> None:
    envelope = {"result": {"audio": base64.b64encode(mp3_file([3])).decode()}, "success": True, "errors": [], "messages": []}
    server.script(Reply.json(200, envelope))
    result = await WorkersAiSynthesizer(rest(server, http)).synthesize(SynthesisRequest("Hola", MELOTTS, "es", "mp3"))
    assert result.audio == mp3_file([3]) and server.requests[0].json() == {"prompt": "Hola", "lang": "es"}


async def test_rest_errors(server: FakeServer, http: LocalHttpClient) -> None:
    def envelope(code: int, message: str) -> dict[str, Any]:
        return {"result": None, "success": False, "errors": [{"code": code, "message": message}], "messages": []}

    server.script(
        Reply.json(401, envelope(10000, "Authentication error")),
        Reply.json(429, envelope(3040, "Capacity temporarily exceeded, please try again."), {"Retry-After": "11"}),
        Reply.json(400, envelope(5007, "No such model @cf/deepgram/aura-9 or task")),
        Reply.json(500, envelope(3043, "Internal server error")),
        Reply(502, b"<html>Bad gateway</html>", {"Content-Type": "text/html"}),
    )
    client = rest(server, http)
    with pytest.raises(PermanentSynthesisError, match="10000: Authentication error"):
        await client.run(AURA_1, {"text": "x"}, timeout=5)
    with pytest.raises(TransientSynthesisError) as caught:
        await client.run(AURA_1, {"text": "x"}, timeout=5)
    assert caught.value.retry_after == 11 and "3040" in str(caught.value)
    with pytest.raises(PermanentSynthesisError, match="5007"):
        await client.run(AURA_1, {"text": "x"}, timeout=5)
    with pytest.raises(TransientSynthesisError, match="Internal server error"):
        await client.run(AURA_1, {"text": "x"}, timeout=5)
    with pytest.raises(TransientSynthesisError, match="HTTP 502: <html>Bad gateway</html>"):
        await client.run(AURA_1, {"text": "x"}, timeout=5)
    assert all(TOKEN not in r.target for r in server.requests)


async def test_rest_timeout(server: FakeServer, http: LocalHttpClient) -> None:
    server.script(Reply(200, b"", delay=30))
    with pytest.raises(TransientSynthesisError, match="no response within 0.2 s"):
        await rest(server, http).run(AURA_1, {"text": "x"}, timeout=0.2)


def test_catalogue_specs() -> None:
    specs = {s.id: s for s in workers_ai_specs()}
    aura = specs[AURA_2_EN]
    assert len(aura.voices) == 40 and aura.default_voice == "luna" and aura.max_input_chars == 2000
    assert aura.rates_for("mp3") == [22050] and aura.rates_for("wav") == [8000, 16000, 24000, 32000, 48000]
    assert aura.default_rate_for("mp3") == 22050 and aura.default_rate_for("wav") == 24000
    assert specs[AURA_1].voices[0] == "angus" and specs[MELOTTS].formats == ["mp3"]
