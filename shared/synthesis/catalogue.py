"""The model catalogue: which models exist, what they accept, who synthesizes them.

A ``ModelSpec`` describes one model (voices, formats, sample rates, input
limit) and names its *provider*; a ``ProviderRegistry`` maps provider names
to ``Synthesizer`` instances available on this runtime. Cloud providers
(Workers AI, OpenAI, ElevenLabs, Gemini) plug in by adding specs with
``Catalogue.add`` and registering their synthesizer under the provider name.

``Catalogue.validate`` is what the HTTP API calls on job creation (it
resolves defaults and raises errors naming the request field);
``Catalogue.synthesizer_for`` is what the consumer calls to synthesize.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from shared.ports import Synthesizer
from shared.synthesis.errors import (
    ProviderUnavailableError,
    TextTooLongError,
    UnknownModelError,
    UnknownVoiceError,
    UnsupportedFormatError,
    UnsupportedSampleRateError,
)
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.formats import KNOWN_FORMATS, extension_for, mime_type_for
from shared.synthesis.tone import ToneSynthesizer

__all__ = [
    "Catalogue",
    "ModelSpec",
    "ProviderRegistry",
    "Resolved",
    "default_catalogue",
    "default_registry",
    "extension_for",
    "mime_type_for",
    "tone_spec",
    "espeak_spec",
]


class ModelSpec(BaseModel):
    """One model: its provider and what a request may ask of it. JSON in camelCase."""

    model_config = ConfigDict(frozen=True, alias_generator=to_camel, populate_by_name=True, extra="forbid")

    id: str
    provider: str
    voices: list[str]
    default_voice: str
    formats: list[str]
    default_format: str
    sample_rates: list[int]
    default_sample_rate: int
    max_input_chars: int
    description: str = ""

    @model_validator(mode="after")
    def _defaults_are_allowed(self) -> ModelSpec:
        if not self.voices or self.default_voice not in self.voices:
            raise ValueError(f"model {self.id!r}: default voice {self.default_voice!r} is not among its voices")
        if not self.formats or self.default_format not in self.formats:
            raise ValueError(f"model {self.id!r}: default format {self.default_format!r} is not among its formats")
        unknown = [f for f in self.formats if f not in KNOWN_FORMATS]
        if unknown:
            raise ValueError(f"model {self.id!r}: unknown formats {unknown}; known: {list(KNOWN_FORMATS)}")
        if not self.sample_rates or self.default_sample_rate not in self.sample_rates:
            raise ValueError(
                f"model {self.id!r}: default sample rate {self.default_sample_rate} is not among its rates"
            )
        if self.max_input_chars < 1:
            raise ValueError(f"model {self.id!r}: max_input_chars must be positive")
        return self

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class Resolved(NamedTuple):
    """A validated request: the model's spec and the voice, format and rate to use (defaults filled)."""

    spec: ModelSpec
    voice: str
    format: str
    sample_rate: int

    @property
    def mime_type(self) -> str:
        return mime_type_for(self.format, sample_rate=self.sample_rate)

    @property
    def extension(self) -> str:
        return extension_for(self.format)


class ProviderRegistry:
    """Provider name -> ``Synthesizer`` instance, for the providers this runtime has."""

    def __init__(self, synthesizers: dict[str, Synthesizer] | None = None) -> None:
        self._by_name: dict[str, Synthesizer] = dict(synthesizers or {})

    def register(self, provider: str, synthesizer: Synthesizer) -> None:
        """Add or replace the synthesizer of ``provider``."""
        self._by_name[provider] = synthesizer

    def get(self, provider: str) -> Synthesizer | None:
        return self._by_name.get(provider)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __contains__(self, provider: object) -> bool:
        return provider in self._by_name

    def __len__(self) -> int:
        return len(self._by_name)


class Catalogue:
    """The models a deployment offers, in insertion order, plus the registry that runs them."""

    def __init__(
        self,
        specs: Iterable[ModelSpec] = (),
        *,
        registry: ProviderRegistry | None = None,
        default_model: str | None = None,
    ) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self.registry = registry if registry is not None else ProviderRegistry()
        for spec in specs:
            self.add(spec)
        self._default_model = default_model

    # --- contents -------------------------------------------------------------

    def add(self, spec: ModelSpec, synthesizer: Synthesizer | None = None) -> None:
        """Add (or replace) a model; optionally register its provider's synthesizer too."""
        self._specs[spec.id] = spec
        if synthesizer is not None:
            self.registry.register(spec.provider, synthesizer)

    def get(self, model_id: str) -> ModelSpec:
        """The spec of ``model_id``; ``UnknownModelError`` (field ``model``) if absent."""
        try:
            return self._specs[model_id]
        except (KeyError, TypeError):
            raise UnknownModelError(model_id, self.ids()) from None

    def ids(self) -> list[str]:
        return list(self._specs)

    def models(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._specs

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def default_model(self) -> str | None:
        """The configured default if it is in the catalogue, else the first model (None if empty)."""
        if self._default_model in self._specs:
            return self._default_model
        return next(iter(self._specs), None)

    # --- requests -------------------------------------------------------------

    def validate(
        self,
        model: str | None,
        voice: str | None = None,
        format: str | None = None,  # noqa: A002 - the request field's name
        *,
        sample_rate: int | None = None,
        text: str | None = None,
    ) -> Resolved:
        """Check a request against the catalogue and fill in defaults.

        ``None`` means "the default" for each of model, voice, format and
        sample rate. Raises ``UnknownModelError`` / ``UnknownVoiceError`` /
        ``UnsupportedFormatError`` / ``UnsupportedSampleRateError`` /
        ``TextTooLongError``, each with ``.field`` set to the JSON field name
        and a message listing the allowed values.
        """
        model_id = model if model is not None else self.default_model
        if model_id is None:
            raise UnknownModelError(model, self.ids())
        spec = self.get(model_id)
        voice = voice if voice is not None else spec.default_voice
        if voice not in spec.voices:
            raise UnknownVoiceError(voice, spec.id, spec.voices)
        fmt = format if format is not None else spec.default_format
        if fmt not in spec.formats:
            raise UnsupportedFormatError(fmt, spec.id, spec.formats)
        rate = sample_rate if sample_rate is not None else spec.default_sample_rate
        if rate not in spec.sample_rates:
            raise UnsupportedSampleRateError(rate, spec.id, spec.sample_rates)
        if text is not None and len(text) > spec.max_input_chars:
            raise TextTooLongError(len(text), spec.id, spec.max_input_chars)
        return Resolved(spec, voice, fmt, rate)

    def synthesizer_for(self, model_id: str) -> Synthesizer:
        """The synthesizer that runs ``model_id`` here.

        ``UnknownModelError`` if the model is not in the catalogue,
        ``ProviderUnavailableError`` if its provider is not registered.
        Both are permanent: the consumer fails the job rather than retry.
        """
        spec = self.get(model_id)
        synthesizer = self.registry.get(spec.provider)
        if synthesizer is None:
            raise ProviderUnavailableError(spec.id, spec.provider, self.registry.names())
        return synthesizer

    def to_json_list(self) -> list[dict[str, Any]]:
        """Every model as camelCase JSON (for a ``GET /v1/models``)."""
        return [s.to_json_dict() for s in self._specs.values()]


# --- the built-in models -----------------------------------------------------


def tone_spec() -> ModelSpec:
    t = ToneSynthesizer
    return ModelSpec(
        id=t.MODEL_ID,
        provider=t.name,
        voices=list(t.VOICES),
        default_voice=t.DEFAULT_VOICE,
        formats=list(t.FORMATS),
        default_format=t.DEFAULT_FORMAT,
        sample_rates=list(t.SAMPLE_RATES),
        default_sample_rate=t.DEFAULT_SAMPLE_RATE,
        # 60 ms a character: 20,000 characters = 20 min = 57.6 MB of WAV at 24 kHz,
        # which still fits a Worker's 128 MB with one copy on the way to R2.
        max_input_chars=20_000,
        description="Deterministic beeps (one 60 ms tone per character), offline; for tests and benchmarks.",
    )


def espeak_spec() -> ModelSpec:
    e = EspeakSynthesizer
    return ModelSpec(
        id=e.MODEL_ID,
        provider=e.name,
        voices=list(e.VOICES),
        default_voice=e.DEFAULT_VOICE,
        formats=list(e.FORMATS),
        default_format=e.DEFAULT_FORMAT,
        sample_rates=list(e.SAMPLE_RATES),
        default_sample_rate=e.DEFAULT_SAMPLE_RATE,
        max_input_chars=20_000,
        description="eSpeak NG formant speech, offline; local runtime only (needs libespeak-ng).",
    )


def default_registry(espeak_available: bool) -> ProviderRegistry:
    """A registry with the offline providers: ``tone`` always, ``espeak`` when available."""
    registry = ProviderRegistry({ToneSynthesizer.name: ToneSynthesizer()})
    if espeak_available:
        registry.register(EspeakSynthesizer.name, EspeakSynthesizer())
    return registry


def default_catalogue(
    espeak_available: bool,
    *,
    registry: ProviderRegistry | None = None,
    default_model: str | None = "tone",
) -> Catalogue:
    """The built-in catalogue: ``tone``, plus ``espeak`` when ``espeak_available``.

    Pass ``EspeakSynthesizer.available()`` on the local runtime and ``False``
    on Cloudflare. Without ``registry``, ``default_registry`` supplies the
    synthesizers; with one, only the specs are added (register providers
    yourself).
    """
    specs = [tone_spec()]
    if espeak_available:
        specs.append(espeak_spec())
    if registry is None:
        registry = default_registry(espeak_available)
    return Catalogue(specs, registry=registry, default_model=default_model)
