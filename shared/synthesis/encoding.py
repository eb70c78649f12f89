"""Compressed formats for models that make PCM: an encoder port and a synthesizer that uses it.

The offline models (``tone``, ``espeak``) make 16-bit mono PCM. Where the
runtime has an MP3 encoder (the local runtime, with ``lameenc`` from PyPI:
``local_runtime/mp3_encoder.py``), ``with_mp3`` adds ``mp3`` to such a
model's spec and ``EncodingSynthesizer`` answers an ``mp3`` request by asking
the model for PCM and encoding it. In a Worker there is no encoder (lameenc
is a native extension, not in Pyodide), so the catalogue there lists no
``mp3`` for these models and a request for it gets the usual 422 naming the
formats that are.

Long jobs are encoded chunk by chunk and joined frame by frame
(``shared.synthesis.mp3``): each chunk keeps the encoder's start delay and
end padding, a few milliseconds at each join. Word timings follow: each is
moved by the encoder's ``delay_samples`` (where a decoder puts the input's
first sample), in every chunk alike. Encoding is blocking native work, handed
to the runtime's ``Offload`` (the local runtime's thread pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from shared.captions.words import shift
from shared.ports import Offload, SynthesisRequest, SynthesisResult, Synthesizer, run_inline
from shared.synthesis.formats import extension_for, mime_type_for

if TYPE_CHECKING:
    from shared.synthesis.catalogue import Catalogue, ModelSpec

MP3 = "mp3"
# What MPEG-1/2/2.5 Layer III can carry (the rates mp3 frames may declare).
MP3_SAMPLE_RATES: frozenset[int] = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


class Mp3Encoder(Protocol):
    """Encodes 16-bit little-endian mono PCM into one MP3 file."""

    bitrate_kbps: int
    delay_samples: int  # where the input's first sample is in the decoded file (encoder + decoder delay)

    def encode(self, pcm: bytes, sample_rate: int) -> bytes: ...


class EncodingSynthesizer:
    """``inner`` as it is, except that ``mp3`` is made from its ``pcm``."""

    def __init__(self, inner: Synthesizer, encoder: Mp3Encoder, offload: Offload = run_inline) -> None:
        self.inner = inner
        self.encoder = encoder
        self.name = inner.name
        self._offload = offload

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        if request.format != MP3:
            return await self.inner.synthesize(request)
        pcm = await self.inner.synthesize(replace(request, format="pcm"))
        rate = pcm.sample_rate
        if rate is None:
            raise ValueError(f"{self.name}: PCM without a sample rate cannot be encoded")
        # Word timings of the PCM, moved to where the decoded MP3 says each word.
        words = tuple(shift(pcm.words, self.encoder.delay_samples / rate, 0)) if pcm.words is not None else None
        audio = await self._offload(self.encoder.encode, pcm.audio, rate)
        return replace(
            pcm, audio=audio, mime_type=mime_type_for(MP3), extension=extension_for(MP3),
            words=words,
        )

    def __getattr__(self, name: str) -> object:  # the inner model's own helpers (e.g. tone's estimates)
        return getattr(self.inner, name)


def with_mp3(spec: ModelSpec) -> ModelSpec:
    """``spec`` with ``mp3`` among its formats, at the rates of its PCM that MP3 can carry."""
    rates = sorted(r for r in spec.rates_for("pcm") if r in MP3_SAMPLE_RATES)
    if MP3 in spec.formats or not rates:
        return spec
    return spec.model_copy(
        update={"formats": [*spec.formats, MP3], "format_sample_rates": {**spec.format_sample_rates, MP3: rates}}
    )


def add_mp3(
    catalogue: Catalogue, model_ids: Sequence[str], encoder: Mp3Encoder, offload: Offload = run_inline
) -> None:
    """Offer ``mp3`` for each of ``model_ids`` present in ``catalogue`` (PCM models), through ``encoder``."""
    for model_id in model_ids:
        if model_id not in catalogue.ids():
            continue
        spec = catalogue.get(model_id)
        synthesizer = catalogue.registry.get(spec.provider)
        if synthesizer is None or "pcm" not in spec.formats:
            continue
        catalogue.add(with_mp3(spec), EncodingSynthesizer(synthesizer, encoder, offload))
