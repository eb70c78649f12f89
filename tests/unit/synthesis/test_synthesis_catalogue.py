"""The model catalogue: validation errors name the field; providers are pluggable."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.errors import PermanentSynthesisError
from shared.ports import SynthesisRequest, SynthesisResult
from shared.synthesis import (
    Catalogue,
    EspeakSynthesizer,
    ModelSpec,
    ProviderRegistry,
    ProviderUnavailableError,
    TextTooLongError,
    ToneSynthesizer,
    UnknownModelError,
    UnknownVoiceError,
    UnsupportedSampleRateError,
    default_catalogue,
    default_registry,
    espeak_spec,
    tone_spec,
)
from shared.errors import CatalogueError
from shared.audio.errors import UnsupportedFormatError
from shared.audio.formats import extension_for, mime_type_for
from shared.audio.wav import parse_wav


class FakeCloud:
    """A stand-in for a future cloud provider (Workers AI, OpenAI, ...)."""

    name = "fakecloud"

    def __init__(self) -> None:
        self.requests: list[SynthesisRequest] = []

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        self.requests.append(request)
        return SynthesisResult(audio=b"ID3fake", mime_type="audio/mpeg", extension="mp3", characters=len(request.text))


def cloud_spec(**overrides: object) -> ModelSpec:
    fields: dict[str, object] = dict(
        id="fake/tts-1",
        provider="fakecloud",
        voices=["alloy", "echo"],
        default_voice="alloy",
        formats=["mp3", "opus", "wav"],
        default_format="mp3",
        sample_rates=[24000],
        default_sample_rate=24000,
        max_input_chars=4096,
        description="fake",
    )
    fields.update(overrides)
    return ModelSpec(**fields)  # type: ignore[arg-type]


def test_default_catalogue_with_and_without_espeak() -> None:
    assert default_catalogue(espeak_available=False).ids() == ["tone"]
    cat = default_catalogue(espeak_available=True)
    assert cat.ids() == ["tone", "espeak"]
    assert cat.default_model == "espeak"  # the best model this runtime can run
    assert isinstance(cat.synthesizer_for("tone"), ToneSynthesizer)
    assert isinstance(cat.synthesizer_for("espeak"), EspeakSynthesizer)
    espeak = cat.get("espeak")
    assert espeak.default_sample_rate == 22050 and "en-us" in espeak.voices and espeak.provider == "espeak"


def test_validate_fills_defaults() -> None:
    cat = default_catalogue(espeak_available=True)
    resolved = cat.validate(None, None, None)
    assert resolved.spec.id == "espeak"  # the automatic default: espeak, which this catalogue can run
    assert (resolved.voice, resolved.format, resolved.sample_rate) == ("en-us", "wav", 22050)
    tone = default_catalogue(espeak_available=True, default_model="tone").validate(None, None, None)
    assert (tone.spec.id, tone.voice, tone.format, tone.sample_rate) == ("tone", "default", "wav", 24000)
    spec, voice, fmt, rate = cat.validate("espeak", "de", "pcm")
    assert (spec.id, voice, fmt, rate) == ("espeak", "de", "pcm", 22050)
    assert cat.validate("tone", "low", "pcm", sample_rate=8000).mime_type == "audio/pcm;rate=8000;channels=1"
    assert cat.validate("tone").extension == "wav"


@pytest.mark.parametrize(
    "args, kwargs, error, field, mentions",
    [
        (("gpt-9",), {}, UnknownModelError, "model", ["'gpt-9'", "'tone'", "'espeak'"]),
        (("tone", "alto"), {}, UnknownVoiceError, "voiceId", ["'alto'", "'default'", "'low'", "'high'"]),
        (("espeak", "klingon"), {}, UnknownVoiceError, "voiceId", ["'en-us'", "'de'"]),
        (("tone", None, "mp3"), {}, UnsupportedFormatError, "format", ["'mp3'", "'wav'", "'pcm'"]),
        (("tone",), {"sample_rate": 48000}, UnsupportedSampleRateError, "sampleRate", ["48000", "24000", "44100"]),
        (("tone",), {"text": "x" * 20_001}, TextTooLongError, "text", ["20,001", "20,000"]),
    ],
)
def test_validation_errors_name_the_field(args, kwargs, error, field, mentions) -> None:  # type: ignore[no-untyped-def]
    cat = default_catalogue(espeak_available=True, max_text_chars=20_000)
    with pytest.raises(error) as excinfo:
        cat.validate(*args, **kwargs)
    err = excinfo.value
    assert err.field == field
    assert str(err).startswith(f"{field}: ")
    for m in mentions:
        assert m in str(err)
    # bad input (400) and a permanent synthesis failure (never retried)
    assert isinstance(err, CatalogueError) and isinstance(err, ValueError)
    assert isinstance(err, PermanentSynthesisError)
    body = err.to_json_dict()
    assert body["field"] == field and body["message"] == str(err)


def test_allowed_values_are_exposed() -> None:
    cat = default_catalogue(espeak_available=False)
    with pytest.raises(UnknownVoiceError) as excinfo:
        cat.validate("tone", "nope")
    assert excinfo.value.allowed == ("default", "low", "high")
    assert excinfo.value.to_json_dict()["allowed"] == ["default", "low", "high"]


def test_espeak_unknown_when_not_available() -> None:
    cat = default_catalogue(espeak_available=False)
    with pytest.raises(UnknownModelError, match="available here: 'tone'$"):
        cat.validate("espeak")


def test_mime_types_and_extensions() -> None:
    assert mime_type_for("wav") == "audio/wav"
    assert mime_type_for("mp3") == "audio/mpeg"
    assert mime_type_for("opus") == "audio/ogg"
    assert mime_type_for("pcm") == "audio/pcm"
    assert mime_type_for("pcm", sample_rate=24000) == "audio/pcm;rate=24000;channels=1"
    assert mime_type_for("wav", sample_rate=24000) == "audio/wav"
    assert [extension_for(f) for f in ("wav", "mp3", "opus", "pcm")] == ["wav", "mp3", "opus", "pcm"]
    with pytest.raises(UnsupportedFormatError) as excinfo:
        mime_type_for("midi")
    assert excinfo.value.field == "format" and "'mp3'" in str(excinfo.value)
    with pytest.raises(UnsupportedFormatError):
        extension_for("midi")


async def test_pluggable_provider() -> None:
    cloud = FakeCloud()
    cat = default_catalogue(espeak_available=False)
    cat.add(cloud_spec(), cloud)
    assert cat.ids() == ["tone", "fake/tts-1"]
    spec, voice, fmt, _ = cat.validate("fake/tts-1", "echo", "opus")
    synth = cat.synthesizer_for(spec.id)
    assert synth is cloud
    result = await synth.synthesize(SynthesisRequest("hi", spec.id, voice, fmt))
    assert result.extension == "mp3" and cloud.requests[0].voice == "echo"
    # tone still works through the same catalogue
    tone = await cat.synthesizer_for("tone").synthesize(SynthesisRequest("hi", "tone", None, "wav"))
    assert parse_wav(tone.audio).sample_rate == 24000


def test_spec_without_registered_provider() -> None:
    cat = Catalogue([cloud_spec()], registry=ProviderRegistry())
    assert cat.validate("fake/tts-1").voice == "alloy"  # the API can still accept the job
    with pytest.raises(ProviderUnavailableError) as excinfo:
        cat.synthesizer_for("fake/tts-1")
    assert excinfo.value.field == "model" and "'fakecloud'" in str(excinfo.value)
    with pytest.raises(UnknownModelError):
        cat.synthesizer_for("nope")


def test_default_model_falls_back_to_first() -> None:
    cat = Catalogue([cloud_spec()], default_model="tone")
    assert cat.default_model == "fake/tts-1"
    assert Catalogue().default_model is None
    with pytest.raises(UnknownModelError, match="available here: none$"):
        Catalogue().validate(None)


def test_default_model_is_the_best_one_this_runtime_can_run() -> None:
    # GIVEN espeak in the catalogue but no espeak provider (Cloudflare, workerd)
    specs = [tone_spec(), espeak_spec()]
    without = Catalogue(specs, registry=default_registry(espeak_available=False))
    assert without.default_model == "tone"
    with_espeak = Catalogue(specs, registry=default_registry(espeak_available=True))
    assert with_espeak.default_model == "espeak"
    # a configured cloud provider is not picked on its own (it bills per character) ...
    cloud = Catalogue([*specs, cloud_spec()], registry=ProviderRegistry({"tone": ToneSynthesizer(), "fakecloud": FakeCloud()}))
    assert cloud.default_model == "tone"
    # ... only when DEFAULT_MODEL names it; a named default this runtime cannot run is passed over
    named = Catalogue([*specs, cloud_spec()], registry=cloud.registry, default_model="fake/tts-1")
    assert named.default_model == "fake/tts-1"
    assert Catalogue(specs, registry=without.registry, default_model="espeak").default_model == "tone"
    assert [m["id"] for m in with_espeak.public_models() if m["default"]] == ["espeak"]


def test_errors_offer_only_what_this_runtime_can_run() -> None:
    cat = Catalogue(
        [tone_spec(), espeak_spec(), cloud_spec()], registry=default_registry(espeak_available=False), max_text_chars=20_000
    )
    with pytest.raises(UnknownModelError) as unknown:
        cat.validate("nope")
    assert unknown.value.allowed == ("tone",) and str(unknown.value).endswith("available here: 'tone'")
    with pytest.raises(ProviderUnavailableError) as unconfigured:
        cat.validate("espeak", require_provider=True)
    assert unconfigured.value.allowed == ("tone",)
    assert "needs libespeak-ng" in str(unconfigured.value) and "'fakecloud'" not in str(unconfigured.value)
    with pytest.raises(TextTooLongError) as too_long:
        cat.validate("tone", text="x" * 20_001)
    assert too_long.value.limit == 20_000 and "20,001 characters" in str(too_long.value)


@pytest.mark.parametrize(
    "overrides, needle",
    [
        ({"default_voice": "nova"}, "default voice"),
        ({"default_format": "flac"}, "default format"),
        ({"formats": ["mp3", "midi"]}, "unknown formats"),
        ({"default_sample_rate": 8000}, "default sample rate"),
        ({"max_input_chars": 0}, "max_input_chars"),
    ],
)
def test_model_spec_is_self_consistent(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        cloud_spec(**overrides)


def test_spec_json_is_camel_case() -> None:
    data = default_catalogue(espeak_available=False).to_json_list()[0]
    assert data["id"] == "tone" and data["defaultVoice"] == "default" and data["maxInputChars"] == 2_000
    assert ModelSpec.model_validate(data) == default_catalogue(espeak_available=False).get("tone")
