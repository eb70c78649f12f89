"""Synthesis providers, the model catalogue and audio helpers.

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
    AudioFormatMismatchError,
    CatalogueError,
    ProviderUnavailableError,
    TextTooLongError,
    UnknownModelError,
    UnknownVoiceError,
    UnsupportedFormatError,
    UnsupportedSampleRateError,
    WavFormatError,
)
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.formats import KNOWN_FORMATS, extension_for, mime_type_for
from shared.synthesis.tone import ToneSynthesizer
from shared.synthesis.wav import WavInfo, join_pcm, join_wav, parse_wav, wav_bytes, wav_header, wav_pcm

__all__ = [
    "AudioFormatMismatchError",
    "Catalogue",
    "CatalogueError",
    "EspeakSynthesizer",
    "KNOWN_FORMATS",
    "ModelSpec",
    "ProviderRegistry",
    "ProviderUnavailableError",
    "Resolved",
    "TextTooLongError",
    "ToneSynthesizer",
    "UnknownModelError",
    "UnknownVoiceError",
    "UnsupportedFormatError",
    "UnsupportedSampleRateError",
    "WavFormatError",
    "WavInfo",
    "default_catalogue",
    "default_registry",
    "espeak_spec",
    "extension_for",
    "join_pcm",
    "join_wav",
    "mime_type_for",
    "parse_wav",
    "tone_spec",
    "wav_bytes",
    "wav_header",
    "wav_pcm",
]
