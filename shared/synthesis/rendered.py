"""Synthesizing one planned chunk: the provider's request, the pauses around it, its words.

``synthesize_planned`` sends the chunk's text (and its phonemes, to a model
that takes them) as one request, adds the chunk's silences
(``shared.synthesis.silence``), and, when the job asked for word timings,
turns the engine's words (or, from a model without word events, words
estimated over the measured speech) into one timing per caption word of
the chunk, in seconds from the start of the chunk's audio and offsets into
the submitted text (``shared.text.render``: "W3C" spoken as four words is
one timing of "W3C").
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from shared.captions.measure import audio_samples, estimate_words
from shared.words import WordTiming, align_to_spans
from shared.errors import PermanentSynthesisError
from shared.models import JobRecord
from shared.ports import SynthesisRequest, SynthesisResult, Synthesizer
from shared.audio.kinds import identify
from shared.synthesis.silence import PadError, lead_seconds, pad
from shared.text.plan import Chunk

if TYPE_CHECKING:
    from shared.synthesis.budget import Pacer

__all__ = ["chunk_request", "synthesize_planned"]


def chunk_request(record: JobRecord, chunk: Chunk, pacer: Pacer | None = None) -> SynthesisRequest:
    """What the provider receives for ``chunk`` of ``record``'s job (its timeout from the consumer's pacing)."""
    return SynthesisRequest(
        timeout_seconds=pacer.timeout(len(chunk.text)) if pacer is not None else None,
        text=chunk.text,
        model=record.model,
        voice=record.voice_id,
        format=record.format,
        sample_rate=record.sample_rate,
        speed=chunk.speed if chunk.speed is not None else record.speed,
        instructions=record.instructions,
        timestamps=record.timestamps is not None,
        phonemes=chunk.phonemes(),
    )


async def synthesize_planned(
    synthesizer: Synthesizer, record: JobRecord, chunk: Chunk, pacer: Pacer | None = None
) -> SynthesisResult:
    """The chunk's audio with its silences, and (when asked for) its caption words' timings.

    With a ``pacer`` (the consumer's), the call starts only if it fits the invocation, as
    ``shared.synthesis.longform.paced_synthesis`` does for plain text."""
    if pacer is None:
        result = await synthesizer.synthesize(chunk_request(record, chunk))
    else:
        pacer.check(len(chunk.text))
        started = pacer.started()
        result = await synthesizer.synthesize(chunk_request(record, chunk, pacer))
        pacer.finished(len(chunk.text), started)
    kind = identify(result.audio, record.format, result.sample_rate or record.sample_rate)
    try:
        audio = pad(kind, result.audio, chunk.lead_ms, chunk.trail_ms)
        lead = lead_seconds(kind, result.audio, chunk.lead_ms)
    except PadError as exc:
        raise PermanentSynthesisError(f"the pauses cannot be added: {exc}") from exc
    characters = result.characters or len(chunk.text)
    if record.timestamps is None:
        return replace(result, audio=audio, words=None, characters=characters)
    measured = audio_samples(kind, result.audio)
    duration = measured[0] / measured[1] if measured else None
    engine = result.words
    estimated = result.words_estimated
    if engine is None:
        if duration is None:
            raise PermanentSynthesisError(f"{kind.format} audio has no measurable length for word timings")
        engine, estimated = tuple(estimate_words(chunk.text, duration)), True
    captions = chunk.captions()
    aligned = align_to_spans(engine, [(c.spoken_start, c.spoken_end) for c in captions], duration=duration)
    words = tuple(
        WordTiming(round(t.start + lead, 6), round(t.end + lead, 6), c.caption.start, c.caption.end)
        for t, c in zip(aligned, captions, strict=True)
    )
    return replace(result, audio=audio, words=words, words_estimated=estimated, characters=characters)
