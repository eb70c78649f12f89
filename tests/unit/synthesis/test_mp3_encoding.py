"""MP3 for the offline models where the runtime has an encoder (shared/synthesis/encoding.py)."""

from __future__ import annotations

import pytest

from local_runtime.mp3_encoder import load_mp3_encoder
from shared.config import Settings
from shared.errors import PipelineError
from shared.ports import SynthesisRequest
from shared.synthesis.encoding import MP3_SAMPLE_RATES, EncodingSynthesizer, with_mp3
from shared.audio.kinds import AudioKind, join_parts
from shared.audio.mp3 import parse_mp3
from shared.synthesis.providers import build_catalogue
from shared.synthesis.tone import ToneSynthesizer

encoder = load_mp3_encoder()  # lameenc is a dependency of the project: each test asserts it loaded


def duration(mp3: bytes) -> float:
    info = parse_mp3(mp3)
    return sum(f.samples for f in info.frames) / info.frames[0].sample_rate


async def test_mp3_is_the_models_pcm_encoded_at_its_rate_and_length() -> None:
    assert encoder is not None
    tone = ToneSynthesizer()
    pcm = await tone.synthesize(SynthesisRequest("Hello there", "tone", None, "pcm", 22050))
    mp3 = await EncodingSynthesizer(tone, encoder).synthesize(SynthesisRequest("Hello there", "tone", None, "mp3", 22050))
    assert (mp3.mime_type, mp3.extension, mp3.sample_rate) == ("audio/mpeg", "mp3", 22050)
    info = parse_mp3(mp3.audio)
    assert {f.sample_rate for f in info.frames} == {22050} and {f.channels for f in info.frames} == {1}
    assert {f.bitrate for f in info.frames} == {encoder.bitrate_kbps * 1000}
    seconds = len(pcm.audio) / 2 / 22050
    # LAME adds its start delay and end padding: at most a few frames (576 samples each at 22.05 kHz).
    assert seconds <= duration(mp3.audio) <= seconds + 4 * 576 / 22050
    assert len(mp3.audio) < len(pcm.audio) / 4


async def test_other_formats_pass_through_untouched() -> None:
    assert encoder is not None
    tone = ToneSynthesizer()
    request = SynthesisRequest("Hi", "tone", None, "wav", 24000)
    assert (await EncodingSynthesizer(tone, encoder).synthesize(request)) == await tone.synthesize(request)


def test_the_catalogue_offers_mp3_only_with_an_encoder() -> None:
    assert encoder is not None
    without = build_catalogue(Settings(), http=None)
    assert "mp3" not in without.get("tone").formats
    with pytest.raises(PipelineError, match="format"):
        without.validate("tone", format="mp3")
    offered = build_catalogue(Settings(), http=None, mp3_encoder=encoder)
    spec = offered.get("tone")
    assert "mp3" in spec.formats and set(spec.rates_for("mp3")) <= MP3_SAMPLE_RATES
    assert offered.validate("tone", format="mp3", sample_rate=16000).format == "mp3"
    assert "mp3" in spec.to_json_dict()["formats"]


def test_with_mp3_keeps_only_rates_mp3_can_carry() -> None:
    spec = build_catalogue(Settings(), http=None).get("tone")
    odd = spec.model_copy(update={"sample_rates": [22050, 96000], "default_sample_rate": 22050})
    assert with_mp3(odd).rates_for("mp3") == [22050]
    assert with_mp3(with_mp3(spec)) == with_mp3(spec)


async def test_chunks_encoded_apart_join_into_one_stream_of_their_frames() -> None:
    assert encoder is not None
    synth = EncodingSynthesizer(ToneSynthesizer(), encoder)
    parts = [(await synth.synthesize(SynthesisRequest(t, "tone", None, "mp3", 24000))).audio for t in ("One two.", "Three.")]
    joined = join_parts(AudioKind("mp3", 24000), parts)
    assert len(parse_mp3(joined).frames) == sum(len(parse_mp3(p).frames) for p in parts)
