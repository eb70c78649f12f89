"""Each engine's word timings: eSpeak's word events (sample-exact starts, offsets in characters of
UTF-8 text), tone's computed slots, ElevenLabs' with-timestamps; without timestamps nothing changes."""

from __future__ import annotations

import base64
from array import array

import pytest

from local_runtime.http_client import LocalHttpClient
from shared.words import align_to_text
from shared.ports import SynthesisRequest
from shared.synthesis import EspeakSynthesizer
from shared.audio.kinds import BadAudioError
from shared.synthesis.providers.elevenlabs import PREMADE_VOICES, ElevenLabsSynthesizer
from shared.synthesis.tone import ToneSynthesizer
from shared.audio.wav import parse_wav, wav_pcm
from tests.audio_samples import mp3_file
from tests.provider_server import FakeServer, Reply

needs_espeak = pytest.mark.skipif(not EspeakSynthesizer.available(), reason="libespeak-ng failed to load on this host")
TEXT = "Héllo wörld, naïve café. Second sentence!"


@needs_espeak
async def test_espeak_reports_each_word_where_its_sound_starts() -> None:
    result = await EspeakSynthesizer().synthesize(SynthesisRequest(TEXT, "espeak", "en-us", "wav", timestamps=True))
    assert result.words is not None
    pcm = wav_pcm(result.audio)
    samples = array("h", pcm)
    rate = parse_wav(result.audio).sample_rate
    # Offsets count characters, not UTF-8 bytes: "wörld" and "café" come out whole.
    spoken = [TEXT[w.char_start : w.char_end] for w in result.words]
    assert spoken == ["Héllo", "wörld", "naïve", "café", "Second", "sentence"]
    for word, nxt in zip(result.words, [*result.words[1:], None]):
        start, end = round(word.start * rate), round(word.end * rate)
        assert abs(word.start * rate - start) < 1e-6  # a whole sample
        assert 0 <= start < end <= len(samples)
        assert max(abs(s) for s in samples[start:end]) > 1000  # the word is sound
        if nxt is not None:
            assert end <= round(nxt.start * rate)
    aligned = align_to_text(result.words, TEXT, duration=len(samples) / rate)
    assert [TEXT[w.char_start : w.char_end] for w in aligned] == TEXT.split()


@needs_espeak
async def test_espeak_without_timestamps_reports_none() -> None:
    result = await EspeakSynthesizer().synthesize(SynthesisRequest("Hello.", "espeak", "en-us", "pcm"))
    assert result.words is None


async def test_tone_timings_follow_the_slots() -> None:
    tone = ToneSynthesizer()
    result = await tone.synthesize(SynthesisRequest("ab  cde", "tone", None, "pcm", 8000, timestamps=True))
    assert result.words == tuple(tone.word_timings("ab  cde", 8000))
    (a, b) = result.words
    assert (a.start, a.char_start, a.char_end) == (0.0, 0, 2) and a.end == pytest.approx(0.06 + 0.045)
    assert (b.start, b.char_start, b.char_end) == (pytest.approx(4 * 0.06), 4, 7) and b.end == pytest.approx(6 * 0.06 + 0.045)
    samples = array("h", result.audio)
    assert all(s == 0 for s in samples[round(a.end * 8000) : round(b.start * 8000)])  # silence between
    assert (await tone.synthesize(SynthesisRequest("ab", "tone", None, "pcm"))).words is None


def alignment(text: str) -> dict[str, object]:
    return {
        "characters": list(text),
        "character_start_times_seconds": [i * 0.1 for i in range(len(text))],
        "character_end_times_seconds": [i * 0.1 + 0.09 for i in range(len(text))],
    }


async def test_elevenlabs_asks_with_timestamps_and_maps_characters(server: FakeServer, http: LocalHttpClient) -> None:
    audio = mp3_file([1, 2])
    text = "Hello wide world."
    server.script(Reply.json(200, {"audio_base64": base64.b64encode(audio).decode(), "alignment": alignment(text),
                                   "normalized_alignment": alignment(text)}))
    synth = ElevenLabsSynthesizer(http, api_key="xi-key-0123", base_url=server.url)
    result = await synth.synthesize(SynthesisRequest(text, "elevenlabs/eleven_multilingual_v2", "rachel", "mp3", 44100,
                                                     timestamps=True))
    seen = server.requests[0]
    assert seen.path == f"/v1/text-to-speech/{PREMADE_VOICES['rachel']}/with-timestamps"
    assert seen.query == "output_format=mp3_44100_128" and seen.json()["text"] == text
    assert result.audio == audio and result.mime_type == "audio/mpeg"
    assert result.words is not None
    assert [(w.char_start, w.char_end) for w in result.words] == [(0, 5), (6, 10), (11, 17)]
    assert result.words[1].start == pytest.approx(0.6) and result.words[1].end == pytest.approx(0.99)


async def test_elevenlabs_pcm_with_timestamps_is_wrapped_as_wav(server: FakeServer, http: LocalHttpClient) -> None:
    pcm = b"\x01\x00" * 1600
    server.script(Reply.json(200, {"audio_base64": base64.b64encode(pcm).decode(), "alignment": alignment("Hi")}))
    synth = ElevenLabsSynthesizer(http, api_key="xi-key-0123", base_url=server.url)
    result = await synth.synthesize(SynthesisRequest("Hi", "elevenlabs/eleven_flash_v2_5", None, "wav", 16000, timestamps=True))
    assert parse_wav(result.audio).sample_rate == 16000 and wav_pcm(result.audio) == pcm
    assert result.words is not None and len(result.words) == 1


@pytest.mark.parametrize(
    "body",
    [{"alignment": alignment("Hi")}, {"audio_base64": "@@not base64@@", "alignment": alignment("Hi")},
     {"audio_base64": "AAAA"}, {"audio_base64": "AAAA", "alignment": {"characters": ["H"]}}],
)
async def test_a_malformed_with_timestamps_answer_is_transient(server: FakeServer, http: LocalHttpClient, body: dict) -> None:  # type: ignore[type-arg]
    server.script(Reply.json(200, body))
    synth = ElevenLabsSynthesizer(http, api_key="xi-key-0123", base_url=server.url)
    with pytest.raises(BadAudioError):
        await synth.synthesize(SynthesisRequest("Hi", "elevenlabs/eleven_v3", None, "mp3", 44100, timestamps=True))


async def test_mp3_made_locally_moves_the_words_by_the_encoders_delay() -> None:
    from local_runtime.mp3_encoder import load_mp3_encoder
    from shared.synthesis.encoding import EncodingSynthesizer
    from shared.audio.mp3 import parse_mp3

    encoder = load_mp3_encoder()
    assert encoder is not None, "lameenc is a dependency of the project: pip install -e ."
    tone = ToneSynthesizer()
    mp3 = await EncodingSynthesizer(tone, encoder).synthesize(
        SynthesisRequest("ab cd", "tone", None, "mp3", 24000, timestamps=True)
    )
    assert parse_mp3(mp3.audio).sample_rate == 24000 and mp3.words is not None
    exact = tone.word_timings("ab cd", 24000)
    delay = encoder.delay_samples / 24000
    assert [(w.start, w.end) for w in mp3.words] == [(pytest.approx(e.start + delay), pytest.approx(e.end + delay)) for e in exact]
