"""The pure parts of the speech route and the waits: Prefer parsing, ?wait, the name maps,
the settings' pair lists, the streaming WAV header."""

from __future__ import annotations

import io
import struct
import wave
from types import SimpleNamespace
from typing import Any

import pytest

from shared.api.errors import ApiError
from shared.api.speech import map_model, map_voice
from shared.api.waiting import prefer_wait, query_wait
from shared.config import ConfigError, Settings
from shared.http import HttpRequest
from shared.jobs.shard import Create
from shared.audio.wav import streaming_wav_header


def request(headers: dict[str, str] | None = None, target: str = "/v1/jobs") -> HttpRequest:
    return HttpRequest.build("GET", target, headers=headers)


@pytest.mark.parametrize(
    "header,cap,expected",
    [
        (None, 60, None),
        ("wait=10", 60, 10),
        ("WAIT = 10", 60, 10),
        ('wait="7"', 60, 7),
        ("respond-async, wait=5", 60, 5),
        ("wait=5; foo=bar", 60, 5),
        ("wait=999999", 60, 60),
        ("wait=0", 60, 0),
        ("return=minimal", 60, None),
        ("wait=soon", 60, None),  # not understood: ignored (RFC 7240)
        ("wait=-1", 60, None),
        ("wait=10", 0, None),  # MAX_WAIT_SECONDS=0 turns waiting off
    ],
)
def test_prefer_wait(header: str | None, cap: int, expected: int | None) -> None:
    assert prefer_wait(request({"Prefer": header} if header else None), cap) == expected


def test_query_wait() -> None:
    assert query_wait(request(target="/v1/jobs/x"), 60) is None
    assert query_wait(request(target="/v1/jobs/x?wait=5"), 60) == 5
    assert query_wait(request(target="/v1/jobs/x?wait=500"), 60) == 60
    for bad in ("soon", "-1", "1.5", "", "1" * 10):
        with pytest.raises(ApiError) as caught:
            query_wait(request(target=f"/v1/jobs/x?wait={bad}"), 60)
        assert caught.value.status == 400 and caught.value.field == "wait"


def deps(**env: str) -> Any:
    return SimpleNamespace(settings=Settings.from_env(env))


def test_model_map_defaults_and_own_ids() -> None:
    d = deps()
    assert map_model(d, "tts-1") is None and map_model(d, "gpt-4o-mini-tts") is None
    assert map_model(d, "tone") == "tone" and map_model(d, "openai/tts-1") == "openai/tts-1"
    mapped = deps(SPEECH_MODEL_MAP="tts-1=openai/tts-1")
    assert map_model(mapped, "tts-1") == "openai/tts-1"
    assert map_model(mapped, "tts-1-hd") == "tts-1-hd"  # the map replaced the defaults: an own id now
    workers_ai = deps(SPEECH_MODEL_MAP="tts-1=@cf/deepgram/aura-1")  # Workers AI's ids start with @
    assert map_model(workers_ai, "tts-1") == "@cf/deepgram/aura-1"


def test_voice_rules() -> None:
    d = deps()
    voices, default = ["default", "low", "high"], "default"
    assert map_voice(d, "high", voices, default) == "high"  # the model's own
    assert map_voice(d, "nova", voices, default) == "high"  # SPEECH_VOICE_MAP
    assert map_voice(d, "alloy", voices, default) == "default"  # an OpenAI name: the default voice
    assert map_voice(d, "nova", ["en-us", "de"], "en-us") == "en-us"  # mapped voice not on this model
    with pytest.raises(ApiError) as caught:
        map_voice(d, "nobody", voices, default)
    assert caught.value.field == "voiceId"


def test_pair_settings_are_checked() -> None:
    assert Settings.from_env({"SPEECH_VOICE_MAP": ""}).speech_voice_map == {}
    assert Settings.from_env({"SPEECH_VOICE_MAP": "a=b, c=d"}).speech_voice_map == {"a": "b", "c": "d"}
    for bad in ("novalue", "a=b=c", "=x", "a b=c", "a=@", "a=x@y", "@a=b"):
        with pytest.raises(ConfigError):
            Settings.from_env({"SPEECH_MODEL_MAP": bad})
    with pytest.raises(ConfigError):
        Settings.from_env({"SPEECH_WAIT_SECONDS": "901"})


def test_streaming_wav_header_is_read_to_the_end_of_its_bytes() -> None:
    header = streaming_wav_header(24000)
    assert len(header) == 44 and struct.unpack("<I", header[4:8])[0] == struct.unpack("<I", header[40:44])[0] == 0xFFFFFFFF
    pcm = struct.pack("<6h", 1, 2, 3, 4, 5, 6)
    with wave.open(io.BytesIO(header + pcm)) as w:
        assert w.getframerate() == 24000 and w.readframes(100) == pcm


async def test_a_wait_whose_rpc_fails_answers_with_the_job_as_it_is() -> None:
    from shared.api import waiting
    from shared.logs import JsonLogger
    from shared.models import JobRecord, JobStatus
    from tests.fakes import FakeClock, MemoryShards

    shards = MemoryShards(FakeClock(), shard_count=1)
    job = JobRecord(job_id="c" * 32, tenant="t", status=JobStatus.QUEUED, text="hi", model="tone", format="wav",
                    created_at=0.0, updated_at=0.0, ttl_seconds=60)
    await shards.client.call(Create(record=job))
    stub = shards.stub("shard-0")

    class Reset:  # the shard was reset under the open call
        async def call(self, method: str, payload: Any) -> Any:
            if method == "waitForChange":
                raise RuntimeError("Durable Object reset because its code was updated")
            return await stub.call(method, payload)

    shards.client._resolver = lambda name: Reset()  # type: ignore[assignment]
    log = io.StringIO()
    deps = SimpleNamespace(jobs=shards.client, log=JsonLogger("api", log))
    for wait in (waiting.changed, waiting.until_final):
        waited = await wait(deps, "t", job.job_id, 30)  # type: ignore[operator]
        assert waited.record is not None and waited.record.status is JobStatus.QUEUED
        assert (await wait(deps, "someone-else", job.job_id, 30)).record is None  # type: ignore[operator]
    assert "wait_failed" in log.getvalue()
