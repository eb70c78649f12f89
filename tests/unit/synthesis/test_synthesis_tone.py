"""ToneSynthesizer: valid, deterministic, length grows with text, fast."""

from __future__ import annotations

import hashlib
import time
from array import array

import pytest

from shared.errors import PermanentSynthesisError
from shared.ports import SynthesisRequest, Synthesizer
from shared.synthesis import ToneSynthesizer, UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.wav import parse_wav, wav_pcm


def req(text: str, voice: str | None = None, fmt: str = "wav", rate: int | None = None) -> SynthesisRequest:
    return SynthesisRequest(text=text, model="tone", voice=voice, format=fmt, sample_rate=rate)


def samples(pcm: bytes) -> array:
    return array("h", pcm)


def test_is_a_synthesizer() -> None:
    synth: Synthesizer = ToneSynthesizer()
    assert synth.name == "tone"


async def test_output_is_valid_16bit_mono_wav() -> None:
    result = await ToneSynthesizer().synthesize(req("Hello, world"))
    info = parse_wav(result.audio)
    assert (info.sample_rate, info.channels, info.sample_width) == (24000, 1, 2)
    assert info.pcm_offset == 44 and info.pcm_length == len(result.audio) - 44
    assert info.duration_seconds == pytest.approx(12 * 0.060)
    assert (result.mime_type, result.extension, result.sample_rate, result.characters) == (
        "audio/wav",
        "wav",
        24000,
        12,
    )
    s = samples(wav_pcm(result.audio))
    assert max(s) > 5000 and min(s) < -5000  # audible
    assert max(abs(v) for v in s) <= 0.31 * 32767  # no clipping


async def test_deterministic() -> None:
    text = "The quick brown fox jumps over the lazy dog. Ünïcödé ✓ 123"
    a = await ToneSynthesizer().synthesize(req(text, voice="high"))
    b = await ToneSynthesizer().synthesize(req(text, voice="high"))
    c = await ToneSynthesizer().synthesize(req(text, voice="high"))  # cached slots, fresh instance above
    assert a == b == c


async def test_known_bytes_across_runtimes() -> None:
    """The sine is computed without libm, so these bytes are the same on CPython and Pyodide."""
    pcm = ToneSynthesizer().render_pcm("a", sample_rate=8000)
    s = samples(pcm)
    assert len(s) == 480  # 60 ms at 8 kHz
    assert s[:6].tolist() == [0, 135, 451, 726, 717, 287]  # 740 Hz fading in
    assert all(v == 0 for v in s[360:])  # 45 ms tone, then silence
    digest = hashlib.sha256(ToneSynthesizer().render_pcm("Hello, tone!", sample_rate=8000)).hexdigest()
    assert digest == "4a5e6ff0b13d2321c3ef2fc40bd73222b0cd116402a8a85dc62776ff404038b4"


async def test_duration_grows_with_text() -> None:
    synth = ToneSynthesizer()
    lengths = [parse_wav((await synth.synthesize(req("x" * n))).audio).frames for n in (1, 2, 10, 100)]
    assert lengths == [1440, 2880, 14400, 144000]


async def test_pitch_depends_on_character_and_voice() -> None:
    synth = ToneSynthesizer()
    a, b = synth.render_pcm("a"), synth.render_pcm("b")
    assert a != b
    assert synth.render_pcm("a", voice="low") != a != synth.render_pcm("a", voice="high")

    def zero_crossings(pcm: bytes) -> int:
        s = samples(pcm)
        return sum(1 for x, y in zip(s, s[1:]) if x < 0 <= y)

    assert zero_crossings(synth.render_pcm("a", voice="low")) < zero_crossings(a)
    assert zero_crossings(synth.render_pcm("a", voice="high")) > zero_crossings(a)


async def test_whitespace_is_silence_and_tones_fade() -> None:
    synth = ToneSynthesizer()
    assert set(synth.render_pcm("  \n\t")) == {0}
    s = samples(synth.render_pcm("m"))
    assert abs(s[0]) < 50 and abs(s[1079]) < 500  # fades in and out (45 ms tone = 1080 samples)


async def test_pcm_format_is_wav_payload() -> None:
    synth = ToneSynthesizer()
    wav = await synth.synthesize(req("abc", rate=16000))
    pcm = await synth.synthesize(req("abc", fmt="pcm", rate=16000))
    assert pcm.audio == wav_pcm(wav.audio)
    assert pcm.extension == "pcm"
    assert pcm.mime_type == "audio/pcm;rate=16000;channels=1"


@pytest.mark.parametrize("rate", ToneSynthesizer.SAMPLE_RATES)
async def test_every_sample_rate(rate: int) -> None:
    result = await ToneSynthesizer().synthesize(req("hi there", rate=rate))
    info = parse_wav(result.audio)
    assert info.sample_rate == rate and info.frames == 8 * (rate * 60 // 1000)


async def test_rejects_bad_requests() -> None:
    synth = ToneSynthesizer()
    with pytest.raises(UnknownVoiceError) as e:
        await synth.synthesize(req("hi", voice="alto"))
    assert e.value.field == "voiceId" and "'default'" in str(e.value)
    with pytest.raises(UnsupportedFormatError) as f:
        await synth.synthesize(req("hi", fmt="mp3"))
    assert f.value.field == "format"
    with pytest.raises(UnsupportedSampleRateError):
        await synth.synthesize(req("hi", rate=48000))
    with pytest.raises(PermanentSynthesisError, match="empty"):
        await synth.synthesize(req(""))


async def test_large_text_is_fast() -> None:
    """~100k characters. Timing is printed (see -s), never asserted."""
    synth = ToneSynthesizer()
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 1800)[:100_000]
    started = time.perf_counter()
    result = await synth.synthesize(req(text, rate=8000))
    elapsed = time.perf_counter() - started
    megabytes = len(result.audio) / 1e6
    print(f"\ntone: {len(text)} chars -> {megabytes:.1f} MB WAV in {elapsed:.3f} s ({elapsed / megabytes * 1000:.2f} ms/MB)")
    info = parse_wav(result.audio)
    assert info.frames == 100_000 * 480
    assert info.pcm_length == len(result.audio) - 44
