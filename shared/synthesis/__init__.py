"""Synthesis providers and the model catalogue (audio containers and formats: ``shared.audio``).

Import-safe on Pyodide: stdlib and pydantic only; eSpeak's ``ctypes`` and
``espeakng_loader`` are imported lazily when first used.
"""

from shared.synthesis.catalogue import (
    Catalogue,
    ModelSpec,
    ProviderRegistry,
    Resolved,
    default_catalogue,
    default_registry,
    espeak_spec,
    tone_spec,
)
from shared.synthesis.errors import (
    ProviderUnavailableError,
    TextTooLongError,
    UnknownModelError,
    UnknownVoiceError,
    UnsupportedSampleRateError,
)
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.tone import ToneSynthesizer

__all__ = [
    "Catalogue",
    "EspeakSynthesizer",
    "ModelSpec",
    "ProviderRegistry",
    "ProviderUnavailableError",
    "Resolved",
    "TextTooLongError",
    "ToneSynthesizer",
    "UnknownModelError",
    "UnknownVoiceError",
    "UnsupportedSampleRateError",
    "default_catalogue",
    "default_registry",
    "espeak_spec",
    "tone_spec",
]
