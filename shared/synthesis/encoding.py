"""Compressed formats for models that make PCM: an encoder port and a synthesizer that uses it.

The offline models (``tone``, ``espeak``) make 16-bit mono PCM. Where the
runtime has encoders (the local runtime: ``mp3`` through ``lameenc``,
``opus``, ``aac`` and ``flac`` through PyAV, ``local_runtime/audio_encoders.py``),
``add_encoders`` adds their formats to such a model's spec and
``EncodingSynthesizer`` answers a request for one by asking the model for PCM
and encoding it. In a Worker there is no encoder (both are native
extensions, not in Pyodide), so the catalogue there lists none of these
formats for these models and a request for one gets the usual 422 naming
the formats that are.

Long jobs: ``mp3`` is encoded chunk by chunk and joined frame by frame
(``shared.audio.mp3``): each chunk keeps the encoder's start delay and
end padding, a few milliseconds at each join. The other encoded formats
cannot be joined as files (stream headers, granule positions, sample
counts): their chunks are kept as PCM and the joined PCM is encoded once,
streamed into the job's object (``shared.synthesis.encoded_assembly``); the
spec lists them in ``encoded_formats``.

Word timings follow: each is moved by the encoder's ``delay_samples`` (where
a decoder puts the input's first sample), in every chunk alike for ``mp3``,
once for a format encoded after joining. Encoding a chunk is blocking native
work, handed to the runtime's ``Offload`` (the local runtime's thread pool; in
place in a Worker, which has no encoder anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from shared.words import shift
from shared.ports import Offload, SynthesisRequest, SynthesisResult, Synthesizer, run_inline
from shared.audio.formats import JOINABLE_FORMATS, extension_for, mime_type_for

if TYPE_CHECKING:
    from shared.synthesis.catalogue import Catalogue, ModelSpec

MP3 = "mp3"
# What MPEG-1/2/2.5 Layer III can carry (the rates mp3 frames may declare).
MP3_SAMPLE_RATES: frozenset[int] = frozenset({8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000})


class EncoderStream(Protocol):
    """One encoding fed piece by piece: ``write`` PCM, get the bytes made so far; ``finish`` the rest."""

    def write(self, pcm: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class FormatEncoder(Protocol):
    """Encodes 16-bit little-endian mono PCM into one file of ``format``."""

    format: str
    delay_samples: int  # where the input's first sample is in the decoded file (encoder + decoder delay)

    def sample_rates(self, offered: list[int]) -> list[int]:
        """Which of the model's PCM rates it encodes."""
        ...

    def encode(self, pcm: bytes, sample_rate: int) -> bytes: ...


class StreamingEncoder(FormatEncoder, Protocol):
    """An encoder that also encodes a stream (``total_samples``: the PCM's length, when known up front)."""

    def stream(self, sample_rate: int, total_samples: int | None = None) -> EncoderStream: ...


Encoders = Mapping[str, FormatEncoder]


class EncodingSynthesizer:
    """``inner`` as it is, except that each format of ``encoders`` is made from its ``pcm``."""

    def __init__(self, inner: Synthesizer, encoders: Encoders | FormatEncoder, offload: Offload = run_inline) -> None:
        self.inner = inner
        self.encoders: dict[str, FormatEncoder] = (
            dict(encoders) if isinstance(encoders, Mapping) else {encoders.format: encoders}
        )
        self.name = inner.name
        self._offload = offload

    def streaming_encoder(self, fmt: str) -> StreamingEncoder | None:
        """The encoder a long job in ``fmt`` is encoded with once its PCM is joined (None: ``fmt`` is not one)."""
        encoder = self.encoders.get(fmt)
        if fmt in JOINABLE_FORMATS or encoder is None or not hasattr(encoder, "stream"):
            return None
        return encoder  # type: ignore[return-value]  # hasattr(stream) makes it one; the Protocol is not runtime_checkable

    async def synthesize(self, request: SynthesisRequest) -> SynthesisResult:
        encoder = self.encoders.get(request.format or "")
        if encoder is None:
            return await self.inner.synthesize(request)
        pcm = await self.inner.synthesize(replace(request, format="pcm"))
        return await encode_result(pcm, encoder, self.name, self._offload)

    def __getattr__(self, name: str) -> object:  # the inner model's own helpers (e.g. tone's estimates)
        return getattr(self.inner, name)


async def encode_result(
    pcm: SynthesisResult, encoder: FormatEncoder, name: str = "", offload: Offload | None = None
) -> SynthesisResult:
    """One request's PCM ``pcm`` as ``encoder``'s format, its word timings moved to where the decoded file
    says each word (``delay_samples``). ``name``: the model, for the error of PCM without a rate;
    ``offload``: where the encoding's CPU runs (the runtime's; default a thread)."""
    rate = pcm.sample_rate
    if rate is None:
        raise ValueError(f"{name or encoder.format}: PCM without a sample rate cannot be encoded")
    words = tuple(shift(pcm.words, encoder.delay_samples / rate, 0)) if pcm.words is not None else None
    # Encoding a chunk takes up to a few seconds of CPU: the event loop goes on meanwhile.
    audio = await (offload or asyncio.to_thread)(encoder.encode, pcm.audio, rate)
    return replace(
        pcm, audio=audio, mime_type=mime_type_for(encoder.format), extension=extension_for(encoder.format),
        words=words,
    )


def with_encoders(spec: ModelSpec, encoders: Encoders) -> ModelSpec:
    """``spec`` with each encoder's format among its formats, at the rates of its PCM that the encoder takes."""
    formats = list(spec.formats)
    rates = dict(spec.format_sample_rates)
    encoded = list(spec.encoded_formats)
    for fmt, encoder in encoders.items():
        usable = sorted(encoder.sample_rates(spec.rates_for("pcm")))
        if fmt in formats or not usable:
            continue
        formats.append(fmt)
        rates[fmt] = usable
        if fmt not in JOINABLE_FORMATS and hasattr(encoder, "stream"):
            encoded.append(fmt)
    if formats == spec.formats:
        return spec
    return spec.model_copy(update={"formats": formats, "format_sample_rates": rates, "encoded_formats": encoded})


def with_mp3(spec: ModelSpec, encoder: FormatEncoder | None = None) -> ModelSpec:
    """``spec`` with ``mp3`` among its formats, at the rates of its PCM that MP3 can carry."""
    if encoder is None:
        rates = sorted(r for r in spec.rates_for("pcm") if r in MP3_SAMPLE_RATES)
        if MP3 in spec.formats or not rates:
            return spec
        return spec.model_copy(
            update={"formats": [*spec.formats, MP3], "format_sample_rates": {**spec.format_sample_rates, MP3: rates}}
        )
    return with_encoders(spec, {MP3: encoder})


def add_encoders(
    catalogue: Catalogue, model_ids: Sequence[str], encoders: Encoders, offload: Offload = run_inline
) -> None:
    """Offer the formats of ``encoders`` for each of ``model_ids`` present in ``catalogue`` (PCM models)."""
    if not encoders:
        return
    for model_id in model_ids:
        if model_id not in catalogue.ids():
            continue
        spec = catalogue.get(model_id)
        synthesizer = catalogue.registry.get(spec.provider)
        if synthesizer is None or "pcm" not in spec.formats:
            continue
        catalogue.add(with_encoders(spec, encoders), EncodingSynthesizer(synthesizer, encoders, offload))
