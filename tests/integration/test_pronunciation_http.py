"""Lexicons and SSML through the real pipeline, on both runtimes.

On ``tone`` (60 ms a character, exact): a lexicon alias lengthens the audio by exactly the added
characters' slots; ``<break time="2s"/>`` adds exactly 2.000 s of silence (to the sample) in WAV,
and within one frame in MP3 (from an OpenAI-compatible fake on loopback); the captions show the
word as written ("W3C") at the time its alias is spoken; malformed SSML and a PLS lexicon with an
external entity are 400s with the line and column; the speech route takes SSML and lexicons.
On the local runtime a break in FLAC or Opus (made from tone's PCM) is exact silence in the PCM,
encoded once.
On eSpeak (local runtime only): a phoneme rule changes the audio; say-as characters spells.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from shared.audio.mp3 import parse_mp3
from shared.audio.wav import parse_wav
from tests.audio_samples import mp3_file
from tests.integration.harness import Pipeline
from tests.integration.loopback_http import FakeProvider, serving

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
KEY = "sk-loopback-pronunciation"
SLOT = 1440  # tone: samples of one character at 24 kHz
PLS = """<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">
  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>
</lexicon>
"""


class FakeOpenAI(FakeProvider):
    """``POST /v1/audio/speech``: MP3 frames (MPEG-1, 44.1 kHz), one per character of the input."""

    inputs: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.json_body()
        self.inputs.append(body["input"])
        self.reply(200, mp3_file([ord(c) for c in body["input"]], id3=True, xing=True), "audio/mpeg")


@pytest.fixture(scope="module")
def openai(runtime: str) -> Iterator[str]:  # one per runtime: its state must not carry over
    with serving(FakeOpenAI) as url:
        yield url


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, openai: str, runtime: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"alice:{TOKEN}", "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": openai, "SIGNING_KEY": "k" * 32}
    p = Pipeline(tmp_path_factory.mktemp("pronounce"), env=env, runtime=runtime).start()
    yield p
    p.stop()


def finished(pipeline: Pipeline, text: str, **fields: Any) -> dict[str, Any]:
    job = pipeline.submit(text, token=TOKEN, **fields)
    done = pipeline.wait(job["jobId"], token=TOKEN, timeout=120)
    assert done["status"] == "completed", done
    return done


def audio(pipeline: Pipeline, job: dict[str, Any]) -> bytes:
    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    assert reply.status == 200
    return reply.body


def frames(wav: bytes) -> int:
    info = parse_wav(wav)
    return info.pcm_length // info.frame_size


def put_lexicon(pipeline: Pipeline, name: str, body: bytes, content_type: str) -> Any:
    return pipeline.request("PUT", f"/v1/lexicons/{name}", body=body, headers={"Content-Type": content_type}, token=TOKEN)


def test_a_lexicon_alias_lengthens_the_audio_by_exactly_its_added_characters(pipeline: Pipeline) -> None:
    put = put_lexicon(pipeline, "acronyms", PLS.encode(), "application/pls+xml")
    assert put.status in (200, 201), put.body
    version = put.json()["version"]
    listed = pipeline.request("GET", "/v1/lexicons", token=TOKEN).json()["lexicons"]
    assert [(x["name"], x["version"]) for x in listed] == [("acronyms", version)]
    plain = finished(pipeline, "The W3C met.", model="tone")
    aliased = finished(pipeline, "The W3C met.", model="tone", lexicons=["acronyms"], timestamps="word")
    assert aliased["lexicons"] == [{"name": "acronyms", "version": version}]
    added = len("World Wide Web Consortium") - len("W3C")
    assert frames(audio(pipeline, aliased)) - frames(audio(pipeline, plain)) == added * SLOT

    # the captions show the word as written, at the time its alias is spoken
    timings = pipeline.request("GET", f"/v1/jobs/{aliased['jobId']}/timestamps", token=TOKEN).json()
    assert [w["word"] for w in timings["words"]] == ["The", "W3C", "met."]
    w3c = timings["words"][1]
    assert (w3c["charStart"], w3c["charEnd"]) == (4, 7)
    assert w3c["start"] == pytest.approx(4 * 0.06) and w3c["end"] == pytest.approx(28 * 0.06 + 0.045)
    vtt = pipeline.request("GET", f"/v1/jobs/{aliased['jobId']}/captions.vtt", token=TOKEN).body.decode()
    assert "The W3C met." in vtt and "Consortium" not in vtt


def test_a_break_adds_exactly_two_seconds_of_silence_in_wav(pipeline: Pipeline) -> None:
    joined = finished(pipeline, "<speak>ab cd</speak>", model="tone", textType="ssml")
    paused = finished(pipeline, '<speak>ab <break time="2s"/>cd</speak>', model="tone", textType="ssml",
                      timestamps="word")
    assert paused["textType"] == "ssml"
    # "ab cd" is 5 slots; with the break, "ab" and "cd" are two requests (4 slots) and 2 s between
    assert frames(audio(pipeline, joined)) == 5 * SLOT
    wav = audio(pipeline, paused)
    assert frames(wav) == 4 * SLOT + 48_000
    info = parse_wav(wav)
    assert wav[info.pcm_offset + 2 * SLOT * 2 : info.pcm_offset + (2 * SLOT + 48_000) * 2] == bytes(96_000)
    words = pipeline.request("GET", f"/v1/jobs/{paused['jobId']}/timestamps", token=TOKEN).json()["words"]
    assert [(w["word"], w["start"]) for w in words] == [("ab", 0.0), ("cd", pytest.approx(2.12))]


def test_a_break_adds_two_seconds_within_a_frame_in_mp3(pipeline: Pipeline) -> None:
    FakeOpenAI.inputs.clear()
    job = finished(pipeline, '<speak>ab<break time="2s"/>cd</speak>', model="openai/tts-1", format="mp3",
                   textType="ssml")
    assert FakeOpenAI.inputs == ["ab", "cd"]
    info = parse_mp3(audio(pipeline, job))
    speech_frames = 4  # the fake sends one frame per character
    silence = info.samples - speech_frames * 1152
    assert abs(silence - 2 * 44100) <= 1152  # 2 s to within one frame
    assert info.metadata_frame is None  # no Xing frame claiming the length of one part


@pytest.mark.local_only("flac and opus come from PyAV, a native wheel: the local runtime only")
@pytest.mark.parametrize(
    ("fmt", "ssml", "expected"),
    [
        # two requests, 2 s between: PCM chunks with their silence, joined and encoded once
        ("flac", '<speak>ab <break time="2s"/>cd</speak>', [("ab", 0), ("cd", 48_000)]),
        ("opus", '<speak>ab <break time="2s"/>cd</speak>', [("ab", 0), ("cd", 48_000)]),
        # one request with a closing break: padded in PCM, encoded in memory
        ("flac", '<speak>ab<break time="1s"/></speak>', [("ab", 0), ("", 24_000)]),
    ],
)
def test_a_break_in_a_format_encoded_from_pcm_is_exact_silence(
    pipeline: Pipeline, fmt: str, ssml: str, expected: list[tuple[str, int]]
) -> None:
    job = finished(pipeline, ssml, model="tone", textType="ssml", format=fmt, timestamps="word")
    assert job["mimeType"] == {"flac": "audio/flac", "opus": "audio/ogg"}[fmt]
    samples, rate = decoded(audio(pipeline, job))
    speech = sum(len(text) for text, _ in expected) * SLOT
    silence = sum(pause for _, pause in expected)
    words = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/timestamps", token=TOKEN).json()["words"]
    spoken = [(text, pause) for text, pause in expected if text]
    assert [w["word"] for w in words] == [text for text, _ in spoken]
    if fmt == "flac":  # lossless, no encoder delay: to the sample
        assert rate == 24_000 and len(samples) == speech + silence
        gap_start = 2 * SLOT
        assert not any(samples[gap_start : gap_start + silence])
        assert [w["start"] for w in words] == pytest.approx([i * 2 * SLOT / 24_000 + p / 24_000 for i, (_, p) in enumerate(spoken)])
    else:  # Opus decodes at 48 kHz, in frames of 20 ms
        assert len(samples) * 24_000 / rate == pytest.approx(speech + silence, abs=960)


def decoded(data: bytes) -> tuple[list[int], int]:
    """Samples (16-bit, at the file's rate) and the rate, by FFmpeg's decoders (PyAV)."""
    import av  # the local runtime's encoder library: present wherever these formats are made

    container = av.open(io.BytesIO(data))
    out: list[int] = []
    rate = 0
    resampler = av.AudioResampler(format="s16", layout="mono")
    for frame in container.decode(audio=0):
        rate = frame.sample_rate
        for converted in resampler.resample(frame):
            out.extend(struct.unpack(f"<{converted.samples}h", bytes(converted.planes[0])[: converted.samples * 2]))
    return out, rate


def test_malformed_ssml_is_a_400_with_line_and_column(pipeline: Pipeline) -> None:
    reply = pipeline.request(
        "POST", "/v1/jobs", token=TOKEN,
        json_body={"text": "<speak>\n  Hello <break time='2s'>\n</speak>", "textType": "ssml", "model": "tone"},
    )
    error = reply.json()["error"]
    assert reply.status == 400 and error["code"] == "invalid_ssml" and (error["line"], error["column"]) == (3, 3)


def test_a_pls_with_an_external_entity_is_a_400_with_line_and_column(pipeline: Pipeline) -> None:
    evil = (
        '<?xml version="1.0"?>\n<!DOCTYPE lexicon [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        "<lexicon><lexeme><grapheme>a</grapheme><alias>&x;</alias></lexeme></lexicon>"
    )
    reply = put_lexicon(pipeline, "evil", evil.encode(), "application/pls+xml")
    error = reply.json()["error"]
    assert reply.status == 400 and error["code"] == "invalid_lexicon"
    assert (error["line"], error["column"]) == (2, 1) and "root:" not in json.dumps(error)
    assert pipeline.request("GET", "/v1/lexicons/evil", token=TOKEN).status == 404
    unknown = pipeline.request("POST", "/v1/jobs", token=TOKEN, json_body={"text": "hi", "lexicons": ["nope"]})
    assert unknown.status == 422 and unknown.json()["error"]["code"] == "unknown_lexicon"


def test_the_speech_route_takes_ssml_and_lexicons(pipeline: Pipeline) -> None:
    rules = {"rules": [{"grapheme": "W3C", "alias": "World Wide Web Consortium"}]}
    assert put_lexicon(pipeline, "json-rules", json.dumps(rules).encode(), "application/json").status in (200, 201)
    reply = pipeline.request(
        "POST", "/v1/audio/speech", token=TOKEN,
        json_body={"model": "tone", "voice": "alloy", "response_format": "wav", "textType": "ssml",
                   "input": '<speak>W3C<break time="500ms"/>ok</speak>', "lexicons": ["json-rules"]},
    )
    assert reply.status == 200, reply.body
    assert frames(reply.body) == (25 + 2) * SLOT + 12_000
    assert pipeline.request("DELETE", "/v1/lexicons/json-rules", token=TOKEN).status == 204


@pytest.mark.local_only("eSpeak is a native library: the local runtime only")
def test_espeak_says_a_phoneme_rule_and_spells_say_as_characters(pipeline: Pipeline) -> None:
    rules = {"rules": [{"grapheme": "Nguyen", "phoneme": "ˌæntɪdɪsˌɛstæblɪʃˈmɛntərɪənɪzəm", "alphabet": "ipa"}]}
    assert put_lexicon(pipeline, "names", json.dumps(rules).encode(), "application/json").status in (200, 201)
    plain = frames(audio(pipeline, finished(pipeline, "Ask Nguyen now.", model="espeak")))
    ruled = frames(audio(pipeline, finished(pipeline, "Ask Nguyen now.", model="espeak", lexicons=["names"])))
    assert ruled > plain + 22_050  # twelve syllables instead of two: over a second longer
    word = frames(audio(pipeline, finished(pipeline, "<speak>table</speak>", model="espeak", textType="ssml")))
    spelled = frames(audio(pipeline, finished(
        pipeline, "<speak><say-as interpret-as='characters'>table</say-as></speak>", model="espeak", textType="ssml",
    )))
    assert spelled > word * 1.4  # five letter names instead of one word
