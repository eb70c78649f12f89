"""The model catalogue: which models exist, what they accept, who synthesizes them.

A ``ModelSpec`` describes one model (voices, formats, sample rates, input
limit) and names its *provider*; a ``ProviderRegistry`` maps provider names
to ``Synthesizer`` instances available on this runtime. Cloud providers
(Workers AI, OpenAI, ElevenLabs, Gemini) plug in by adding specs with
``Catalogue.add`` and registering their synthesizer under the provider name.

``Catalogue.validate`` is what the HTTP API calls on job creation (it
resolves defaults and raises errors naming the request field);
``Catalogue.synthesizer_for`` is what the consumer calls to synthesize.

Two text limits: ``max_input_chars`` is what the provider takes in one
request (longer text is split, see ``shared.text.chunking``);
``Catalogue.max_job_chars`` is what one job may hold, the smallest of
``MAX_TEXT_CHARS``, the model's own ``max_job_chars`` and what keeps the
job's audio under ``max_audio_bytes`` (estimated from ``seconds_per_char``
and the format's byte rate). A long job's audio is assembled in R2 part by
part (``shared.synthesis.assembly``), so memory bounds only one request's
audio: ``max_input_chars`` of the offline models keeps that to a few MB.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from shared.captions.measure import ESTIMATED_METHOD
from shared.ports import Offload, Synthesizer, run_inline
from shared.text.chunking import chunk_texts
from shared.synthesis.errors import (
    ProviderUnavailableError,
    TextTooLongError,
    UnjoinableFormatError,
    UnknownModelError,
    UnknownVoiceError,
    UnsupportedOptionError,
    UnsupportedSampleRateError,
)
from shared.audio.errors import UnsupportedFormatError
from shared.synthesis.espeak import EspeakSynthesizer
from shared.audio.formats import (
    JOINABLE_FORMATS,
    KNOWN_FORMATS,
    MEASURABLE_FORMATS,
    extension_for,
    max_bytes_per_second,
    mime_type_for,
)
from shared.synthesis.tone import ToneSynthesizer

__all__ = [
    "AUTO_DEFAULT_ORDER",
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


# The automatic default, best first: offline models only (Piper's neural voice
# where piper-tts is installed, eSpeak where its library loads, the beeps everywhere).
AUTO_DEFAULT_ORDER: tuple[str, ...] = ("piper", "espeak", "tone")
# What the offline models take in one request: longer text goes the chunked
# path (stored chunks, progress, resume, assembly), as on Cloudflare.
OFFLINE_INPUT_CHARS = 2_000
# OpenAI's range of ``speed``: what the offline models take.
OPENAI_SPEED_RANGE = (0.25, 4.0)


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
    max_input_chars: int  # per provider request; longer text is split into several
    description: str = ""
    # Sample rates per format where they differ (absent: ``sample_rates``); each a subset of it.
    format_sample_rates: dict[str, list[int]] = {}
    # A cap of characters per job of this model, whatever the audio size (None: no own cap).
    max_job_chars: int | None = None
    # Seconds of audio per character, to estimate a job's audio size (speech is ~0.06-0.08).
    seconds_per_char: float = 0.08
    # Characters the provider synthesizes per second of wall time, declared conservatively
    # (MODEL_SPEEDS overrides it): sizes chunks and deadlines (shared/synthesis/budget.py).
    chars_per_second: float = 25.0
    # [min, max] of the request's ``speed``; None when the model takes no speed.
    speed_range: list[float] | None = None
    supports_instructions: bool = False
    # Word timings (a request's "timestamps": "word"): "exact" when the engine reports them,
    # "estimated" when they are spread over the measured audio (wav, pcm, mp3 only), "none".
    timestamps: Literal["exact", "estimated", "none"] = "estimated"
    timestamps_method: str = ESTIMATED_METHOD
    # The phoneme notation the model reads natively (SSML <phoneme>, lexicon phoneme rules;
    # shared/text/phonemes.py): "espeak"; None: phonemes fall back to an alias or the written word.
    phonemes: Literal["espeak"] | None = None
    # Formats made here by encoding the model's PCM once a long job's chunks are joined (their files cannot
    # be joined as they are): a long job in one of them keeps its chunks as PCM (shared.synthesis.encoding).
    encoded_formats: list[str] = []
    # The language of the model's voices (BCP 47), where known: per voice, else model-wide (None: several or none).
    language: str | None = None
    voice_languages: dict[str, str] = {}

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
        if not set(self.encoded_formats) <= set(self.formats):
            raise ValueError(f"model {self.id!r}: encoded_formats must be among its formats")
        for fmt, rates in self.format_sample_rates.items():
            if fmt not in self.formats or not rates or not set(rates) <= set(self.sample_rates):
                raise ValueError(f"model {self.id!r}: format_sample_rates[{fmt!r}] must be a format's subset of sample_rates")
        if self.seconds_per_char <= 0 or (self.max_job_chars is not None and self.max_job_chars < 1):
            raise ValueError(f"model {self.id!r}: seconds_per_char and max_job_chars must be positive")
        if self.speed_range is not None and (len(self.speed_range) != 2 or not 0 < self.speed_range[0] <= self.speed_range[1]):
            raise ValueError(f"model {self.id!r}: speed_range must be [min, max] with 0 < min <= max")
        return self

    def rates_for(self, fmt: str) -> list[int]:
        """The sample rates the model produces in ``fmt``."""
        return self.format_sample_rates.get(fmt) or self.sample_rates

    def default_rate_for(self, fmt: str) -> int:
        rates = self.rates_for(fmt)
        return self.default_sample_rate if self.default_sample_rate in rates else rates[0]

    def bytes_per_char(self, fmt: str, sample_rate: int, speed: float | None = None) -> float:
        """Estimated audio bytes per character of text (an upper bound for compressed formats)."""
        return self.seconds_per_char / (speed or 1.0) * max_bytes_per_second(fmt, sample_rate)

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
        max_text_chars: int | None = None,
        max_audio_bytes: int | None = None,
    ) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self.registry = registry if registry is not None else ProviderRegistry()
        for spec in specs:
            self.add(spec)
        self._default_model = default_model
        self.max_text_chars = max_text_chars
        self.max_audio_bytes = max_audio_bytes

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
            raise UnknownModelError(model_id, self.available_ids()) from None

    def ids(self) -> list[str]:
        return list(self._specs)

    def available_ids(self) -> list[str]:
        """The models this runtime can run (their provider is registered): what errors offer."""
        return [m for m in self._specs if self.is_available(m)]

    def models(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._specs

    def is_available(self, model_id: str) -> bool:
        """True when ``model_id`` is in the catalogue and its provider is registered here."""
        spec = self._specs.get(model_id)
        return spec is not None and spec.provider in self.registry

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(list(self._specs.values()))

    def __len__(self) -> int:
        return len(self._specs)

    @property
    def default_model(self) -> str | None:
        """The model a request without ``model`` gets.

        The configured default (``DEFAULT_MODEL``) when this runtime can run
        it; else the first of ``AUTO_DEFAULT_ORDER`` that it can run (piper
        where piper-tts is installed, espeak where libespeak-ng loads, else
        tone); else the first runnable model;
        else the first model (None if empty). Cloud models are never chosen
        on their own: they bill per character, so they are a default only
        when ``DEFAULT_MODEL`` names one.
        """
        if self._default_model and self.is_available(self._default_model):
            return self._default_model
        for model_id in AUTO_DEFAULT_ORDER:
            if self.is_available(model_id):
                return model_id
        runnable = [m for m in self._specs if self.is_available(m)]
        if self._default_model in self._specs and not runnable:
            return self._default_model
        return next(iter(runnable or self._specs), None)

    # --- requests -------------------------------------------------------------

    def validate(
        self,
        model: str | None,
        voice: str | None = None,
        format: str | None = None,  # noqa: A002 - the request field's name
        *,
        sample_rate: int | None = None,
        text: str | None = None,
        speed: float | None = None,
        instructions: str | None = None,
        timestamps: str | None = None,
        require_provider: bool = False,
    ) -> Resolved:
        """Check a request against the catalogue and fill in defaults.

        ``None`` means "the default" for each of model, voice, format and
        sample rate (the default rate is the model's, or the format's first
        when the format does not come at that rate). Raises
        ``UnknownModelError`` / ``ProviderUnavailableError`` (only with
        ``require_provider``) / ``UnknownVoiceError`` /
        ``UnsupportedFormatError`` / ``UnsupportedSampleRateError`` /
        ``UnsupportedOptionError`` / ``TextTooLongError`` /
        ``UnjoinableFormatError``, each with ``.field`` set to the JSON field
        name and a message listing the allowed values.
        """
        model_id = model if model is not None else self.default_model
        if model_id is None:
            raise UnknownModelError(model, self.available_ids())
        spec = self.get(model_id)
        if require_provider and spec.provider not in self.registry:
            raise ProviderUnavailableError(spec.id, spec.provider, self.available_ids())
        voice = voice if voice is not None else spec.default_voice
        if voice not in spec.voices:
            raise UnknownVoiceError(voice, spec.id, spec.voices)
        fmt = format if format is not None else spec.default_format
        if fmt not in spec.formats:
            raise UnsupportedFormatError(fmt, spec.id, spec.formats)
        rate = sample_rate if sample_rate is not None else spec.default_rate_for(fmt)
        if rate not in spec.rates_for(fmt):
            raise UnsupportedSampleRateError(rate, spec.id, spec.rates_for(fmt), fmt if spec.format_sample_rates else None)
        if speed is not None:
            if spec.speed_range is None:
                raise UnsupportedOptionError("speed", f"model {spec.id!r} takes no speed")
            low, high = spec.speed_range
            if not low <= speed <= high:
                raise UnsupportedOptionError("speed", f"model {spec.id!r} takes a speed from {low:g} to {high:g}", spec.speed_range)
        if instructions is not None and not spec.supports_instructions:
            raise UnsupportedOptionError("instructions", f"model {spec.id!r} takes no instructions")
        if timestamps is not None:
            self._check_timestamps(spec, fmt)
        if text is not None:
            self._check_text(spec, fmt, rate, speed, text)
        return Resolved(spec, voice, fmt, rate)

    def _check_timestamps(self, spec: ModelSpec, fmt: str) -> None:
        with_timings = [m.id for m in self if m.provider in self.registry and m.timestamps != "none"]
        if spec.timestamps == "none":
            raise UnsupportedOptionError("timestamps", f"model {spec.id!r} gives no word timings", with_timings)
        if spec.timestamps == "estimated" and fmt not in MEASURABLE_FORMATS:
            raise UnsupportedOptionError(
                "timestamps",
                f"model {spec.id!r} has estimated word timings, which need the audio's length: "
                f"ask for {', '.join(f for f in MEASURABLE_FORMATS if f in spec.formats)} instead of {fmt}",
                [f for f in MEASURABLE_FORMATS if f in spec.formats],
            )

    def max_job_chars(self, spec: ModelSpec, fmt: str, rate: int, speed: float | None = None) -> int | None:
        """The most characters one job of ``spec`` may hold in ``fmt`` at ``rate`` (None: no limit)."""
        limits = [n for n in (self.max_text_chars, spec.max_job_chars) if n is not None]
        if self.max_audio_bytes is not None:
            limits.append(max(1, int(self.max_audio_bytes // spec.bytes_per_char(fmt, rate, speed))))
        return min(limits) if limits else None

    def _check_text(self, spec: ModelSpec, fmt: str, rate: int, speed: float | None, text: str) -> None:
        limit = self.max_job_chars(spec, fmt, rate, speed)
        if limit is not None and len(text) > limit:
            detail = ""
            if self.max_audio_bytes is not None:
                estimate = len(text) * spec.bytes_per_char(fmt, rate, speed)
                if estimate > self.max_audio_bytes:
                    detail = (
                        f"for {fmt} at {rate} Hz: its audio would be about {estimate / 1e6:.0f} MB and "
                        f"one job may make at most {self.max_audio_bytes / 1e6:.0f} MB"
                    )
            raise TextTooLongError(len(text), spec.id, limit, detail)
        if fmt not in JOINABLE_FORMATS and fmt not in spec.encoded_formats and len(text.strip()) > spec.max_input_chars:
            parts = len(chunk_texts(text, spec.max_input_chars))
            if parts > 1:
                raise UnjoinableFormatError(fmt, spec.id, parts, spec.max_input_chars, JOINABLE_FORMATS)

    def synthesizer_for(self, model_id: str) -> Synthesizer:
        """The synthesizer that runs ``model_id`` here.

        ``UnknownModelError`` if the model is not in the catalogue,
        ``ProviderUnavailableError`` if its provider is not registered.
        Both are permanent: the consumer fails the job rather than retry.
        """
        spec = self.get(model_id)
        synthesizer = self.registry.get(spec.provider)
        if synthesizer is None:
            raise ProviderUnavailableError(spec.id, spec.provider, self.available_ids())
        return synthesizer

    def to_json_list(self) -> list[dict[str, Any]]:
        """Every model as camelCase JSON."""
        return [s.to_json_dict() for s in self._specs.values()]

    def public_models(self) -> list[dict[str, Any]]:
        """What ``GET /v1/models`` shows: the models whose provider is registered here, with job limits.

        ``maxJobChars`` is for the model's default format and rate (other
        formats may allow fewer characters: the job's audio is capped in bytes).
        """
        out = []
        default = self.default_model
        for spec in self._specs.values():
            if spec.provider not in self.registry:
                continue
            data = spec.to_json_dict()
            data["default"] = spec.id == default
            fmt = spec.default_format
            data["maxJobChars"] = self.max_job_chars(spec, fmt, spec.default_rate_for(fmt))
            # Each format at its default rate: what a client's character counter should say.
            data["maxJobCharsByFormat"] = {f: self.max_job_chars(spec, f, spec.default_rate_for(f)) for f in spec.formats}
            data["maxAudioBytes"] = self.max_audio_bytes
            data["joinableFormats"] = [f for f in spec.formats if f in JOINABLE_FORMATS or f in spec.encoded_formats]
            # The formats a request with "timestamps": "word" may ask for (estimated timings need the length).
            data["timestampsFormats"] = [
                f for f in spec.formats
                if spec.timestamps == "exact" or (spec.timestamps == "estimated" and f in MEASURABLE_FORMATS)
            ]
            data["ssml"] = ssml_support(spec)
            out.append(data)
        return out


def ssml_support(spec: ModelSpec) -> dict[str, Any]:
    """What SSML and lexicons do on ``spec`` (docs/pronunciation.md): the same everywhere but phonemes,
    ``<emphasis>`` and ``<prosody rate>``, which depend on what the model can do."""
    from shared.synthesis.silence import PADDABLE_FORMATS  # /v1/models only: not at every import

    paused = [f for f in spec.formats if f in PADDABLE_FORMATS or f in spec.encoded_formats]
    return {
        "breaks": f"exact silence ({', '.join(paused)})" if paused else "refused: no format here takes silence",
        "phonemes": ["ipa", "x-sampa"] if spec.phonemes else [],
        "phonemesFallback": "native" if spec.phonemes else "the rule's alias, else the written word",
        "emphasis": "ignored: no model here takes it",
        "prosodyRate": "as the request's speed" if spec.speed_range else "ignored: the model takes no speed",
        "prosodyPitchVolume": "ignored",
    }


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
        # 60 ms a character: a request of 2,000 characters is 5.8 MB of WAV at
        # 24 kHz (11.5 MB at 44.1 kHz), what one chunk holds in a Worker's memory;
        # longer text is chunked and the job's audio assembled in R2.
        max_input_chars=OFFLINE_INPUT_CHARS,
        seconds_per_char=ToneSynthesizer().char_ms / 1000,
        chars_per_second=5_000,  # computed samples: far faster than any provider
        description="Deterministic beeps (one 60 ms tone per character), offline; for tests and benchmarks.",
        speed_range=list(OPENAI_SPEED_RANGE),  # a slot of 60 ms / speed
        timestamps="exact",
        timestamps_method="computed: each character is one 60 ms slot, so a word's time follows from its position",
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
        max_input_chars=OFFLINE_INPUT_CHARS,  # a few minutes of speech per request, so progress moves
        chars_per_second=500,  # one core; measured far faster (docs/benchmarks.md), declared with margin
        description="eSpeak NG formant speech, offline; local runtime only (needs libespeak-ng).",
        speed_range=list(OPENAI_SPEED_RANGE),  # eSpeak's own rate (shared/synthesis/espeak.py)
        voice_languages=dict(e.LANGUAGES),
        timestamps="exact",
        timestamps_method="eSpeak word events: sample-exact starts; ends where the word's sound stops",
        phonemes="espeak",
    )


def default_registry(espeak_available: bool, offload: Offload = run_inline) -> ProviderRegistry:
    """A registry with the offline providers: ``tone`` always, ``espeak`` when available; their
    blocking work goes to ``offload`` (the runtime's thread pool, or in place)."""
    registry = ProviderRegistry({ToneSynthesizer.name: ToneSynthesizer(offload=offload)})
    if espeak_available:
        registry.register(EspeakSynthesizer.name, EspeakSynthesizer(offload=offload))
    return registry


def default_catalogue(
    espeak_available: bool,
    *,
    registry: ProviderRegistry | None = None,
    default_model: str | None = None,
    max_text_chars: int | None = None,
    max_audio_bytes: int | None = None,
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
    return Catalogue(
        specs,
        registry=registry,
        default_model=default_model,
        max_text_chars=max_text_chars,
        max_audio_bytes=max_audio_bytes,
    )
