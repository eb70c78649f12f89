"""EspeakSynthesizer: real speech through libespeak-ng (skipped only if the library cannot load)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from array import array

import pytest

from shared.errors import PermanentSynthesisError
from shared.ports import SynthesisRequest
from shared.synthesis import EspeakSynthesizer, UnknownVoiceError, UnsupportedSampleRateError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.wav import parse_wav, wav_pcm

needs_espeak = pytest.mark.skipif(
    not EspeakSynthesizer.available(),
    reason="libespeak-ng from espeakng-loader failed to load on this host",
)


def req(text: str, voice: str | None = None, fmt: str = "wav", rate: int | None = None) -> SynthesisRequest:
    return SynthesisRequest(text=text, model="espeak", voice=voice, format=fmt, sample_rate=rate)


def rms(pcm: bytes) -> float:
    s = array("h", pcm)
    return (sum(v * v for v in s) / max(1, len(s))) ** 0.5


@needs_espeak
async def test_speaks_a_sentence_as_wav() -> None:
    synth = EspeakSynthesizer()
    await synth.synthesize(req("warm up"))  # first call loads the library
    started = time.perf_counter()
    result = await synth.synthesize(req("Hello from the pipeline"))
    elapsed = time.perf_counter() - started
    info = parse_wav(result.audio)
    print(f"\nespeak: 'Hello from the pipeline' -> {info.duration_seconds:.2f} s of audio in {elapsed * 1000:.1f} ms")
    assert (info.sample_rate, info.channels, info.sample_width) == (22050, 1, 2)
    assert 0.5 < info.duration_seconds < 5
    assert rms(wav_pcm(result.audio)) > 300  # not silence
    assert (result.mime_type, result.extension, result.sample_rate, result.characters) == (
        "audio/wav",
        "wav",
        22050,
        23,
    )


@needs_espeak
@pytest.mark.parametrize("voice", list(EspeakSynthesizer.VOICES))
async def test_every_voice_speaks(voice: str) -> None:
    result = await EspeakSynthesizer().synthesize(req("one two three", voice=voice, fmt="pcm"))
    assert result.extension == "pcm" and result.mime_type == "audio/pcm;rate=22050;channels=1"
    assert len(result.audio) % 2 == 0 and rms(result.audio) > 300


@needs_espeak
async def test_longer_text_gives_longer_audio() -> None:
    synth = EspeakSynthesizer()
    short = parse_wav((await synth.synthesize(req("Hello."))).audio).frames
    long = parse_wav((await synth.synthesize(req("Hello. " * 10 + "This sentence is a good deal longer."))).audio).frames
    assert long > 5 * short


@needs_espeak
async def test_concurrent_calls_are_serialized_and_complete() -> None:
    synth = EspeakSynthesizer()
    texts = [f"Job number {i} is done" for i in range(12)]
    results = await asyncio.gather(*(synth.synthesize(req(t, voice="en-us" if i % 2 else "de")) for i, t in enumerate(texts)))
    for r in results:
        assert rms(wav_pcm(r.audio)) > 300


@needs_espeak
async def test_markup_and_nul_are_spoken_as_text_not_interpreted() -> None:
    result = await EspeakSynthesizer().synthesize(req('<speak><break time="10s"/></speak> a\x00b'))
    assert parse_wav(result.audio).duration_seconds < 8  # SSML is off: no 10 s break


async def test_rejects_bad_requests_without_touching_the_library() -> None:
    synth = EspeakSynthesizer()
    with pytest.raises(UnknownVoiceError) as e:
        await synth.synthesize(req("hi", voice="klingon"))
    assert e.value.field == "voiceId" and "'en-us'" in str(e.value)
    with pytest.raises(UnsupportedFormatError):
        await synth.synthesize(req("hi", fmt="mp3"))
    with pytest.raises(UnsupportedSampleRateError):
        await synth.synthesize(req("hi", rate=24000))
    with pytest.raises(PermanentSynthesisError, match="empty"):
        await synth.synthesize(req("   "))
    with pytest.raises(PermanentSynthesisError, match="exceeds"):
        await EspeakSynthesizer(max_chars=10).synthesize(req("x" * 11))
    with pytest.raises(PermanentSynthesisError, match="not valid Unicode"):
        await synth.synthesize(req("bad \ud800 surrogate"))


def test_unavailable_runtime_imports_fine_and_reports_false() -> None:
    """As on Pyodide: no ctypes, no espeakng_loader. Import works; available() is False."""
    code = (
        "import sys\n"
        "sys.modules['ctypes'] = None\n"
        "sys.modules['espeakng_loader'] = None\n"
        "import shared.synthesis as s\n"
        "from shared.errors import CatalogueError\n"
        "from shared.ports import SynthesisRequest\n"
        "import asyncio\n"
        "assert s.EspeakSynthesizer.available() is False\n"
        "try:\n"
        "    asyncio.run(s.EspeakSynthesizer().synthesize(SynthesisRequest('hi', 'espeak', None, 'wav')))\n"
        "except CatalogueError:\n"
        "    raise\n"
        "except Exception as exc:\n"
        "    assert type(exc).__name__ == 'PermanentSynthesisError', exc\n"
        "    assert 'not available' in str(exc)\n"
        "cat = s.default_catalogue(espeak_available=s.EspeakSynthesizer.available())\n"
        "assert cat.ids() == ['tone']\n"
        "for banned in ('js', 'sqlite3', 'ctypes', 'espeakng_loader'):\n"
        "    assert sys.modules.get(banned) is None, banned\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_import_does_not_load_native_code() -> None:
    code = (
        "import sys, shared.synthesis\n"
        "print(sorted(m for m in ('ctypes', 'espeakng_loader', 'js', 'sqlite3') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
