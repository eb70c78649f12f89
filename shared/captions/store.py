"""A job's timings object in R2: written by the consumer before the audio, read by the API.

The key is derived, never stored: ``shared.keys.timings_key(job_id,
created_at)`` for a job whose ``timestamps`` is set, beside its audio under
``audio/`` (so the R2 lifecycle rule, the reaper's purge and sweep, and
``DELETE /v1/jobs/{jobId}`` treat it as they treat the audio). Written before
the audio and before the job is completed, so a completed job that asked for
timings has them.
"""

from __future__ import annotations

import json
from typing import Protocol

from pydantic import ValidationError

from shared.captions.location import timings_key_of
from shared.captions.document import TimingsDocument, build_document
from shared.captions.measure import ESTIMATED_METHOD, audio_samples, estimate_words
from shared.words import align_to_spans, align_to_text
from shared.keys import timings_key
from shared.models import JobRecord
from shared.ports import BlobStore, SynthesisResult
from shared.audio.kinds import identify

__all__ = ["TimingsSpec", "load_timings", "store_timings", "timings_key_of"]


class TimingsSpec(Protocol):
    """What the timings read of the job's model (``shared.synthesis.catalogue.ModelSpec`` has it)."""

    @property
    def timestamps(self) -> str:
        """"exact" when the engine reports word timings ("estimated", "none" otherwise)."""
        ...

    @property
    def timestamps_method(self) -> str:
        """How the engine's timings are made, as the timings document names them."""
        ...


def document_for(record: JobRecord, result: SynthesisResult, spec: TimingsSpec | None) -> TimingsDocument:
    """The job's timings: the engine's words (shifted per chunk) aligned to the submitted text, and a
    multi-input job's chapters (only those when it did not ask for word timings)."""
    chapters = list(result.chapters) if result.chapters is not None else None
    if not record.timestamps:
        return TimingsDocument(
            job_id=record.job_id, model=record.model, timings="exact", method="chapters only",
            duration=round(result.duration_seconds, 6) if result.duration_seconds is not None else None,
            words=[], chapters=chapters,
        )
    if result.stored is not None:  # assembled in R2 from its chunks: measured chunk by chunk
        duration = result.duration_seconds
    else:
        kind = identify(result.audio, record.format, result.sample_rate or record.sample_rate)
        measured = audio_samples(kind, result.audio)
        duration = measured[0] / measured[1] if measured else None
    words, estimated = result.words, result.words_estimated
    if words is None:
        if duration is None:
            raise ValueError(f"{record.format} audio has no measurable length and the engine reported no timings")
        words, estimated = tuple(estimate_words(record.text, duration)), True
    exact = not estimated and spec is not None and spec.timestamps == "exact"
    captions = result.captions  # SSML or lexicons: the words as the user wrote them (shared/text/render.py)
    if captions is not None:
        aligned = align_to_spans(words, [(c.start, c.end) for c in captions], duration=duration)
    else:
        aligned = align_to_text(words, record.text, duration=duration)
    document = build_document(
        record.job_id,
        record.model,
        record.text,
        aligned,
        timings="exact" if exact else "estimated",
        method=(spec.timestamps_method if spec is not None and exact else ESTIMATED_METHOD),
        duration=duration,
        spelled=[c.word for c in captions] if captions is not None else None,
    )
    document.chapters = chapters
    return document


async def store_timings(
    bucket: BlobStore, record: JobRecord, result: SynthesisResult, spec: TimingsSpec | None, metadata: dict[str, str]
) -> str:
    """Write the job's timings object; returns its key."""
    key = timings_key(record.job_id, record.created_at)
    document = document_for(record, result, spec)
    body = json.dumps(document.to_json_dict(), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    await bucket.put(key, body, content_type="application/json", custom_metadata=metadata)
    return key


async def load_timings(bucket: BlobStore, record: JobRecord) -> TimingsDocument | None:
    """The job's timings, or None when the object is missing or unreadable."""
    key = timings_key_of(record)
    if key is None:
        return None
    body = await bucket.get(key)
    if body is None:
        return None
    try:
        return TimingsDocument.model_validate_json(await body.read())
    except ValidationError:
        return None
