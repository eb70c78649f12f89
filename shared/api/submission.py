"""Submitting a job, apart from HTTP: every rule a new job passes, then its record and its message.

``submit_job`` is what ``POST /v1/jobs`` (``shared/api/jobs.py``) runs once it
has parsed the request, and what any other front door that makes jobs runs
too, so each rule holds for all of them: the text limits, the catalogue's
model/voice/format/rate checks, SSML and lexicons (``pronunciation``: the
limits then count the spoken text), the webhook URL check, idempotency (a repeat
of a keyed request gets the first job back), admission (rate and jobs in
flight), the synthesis cache (``shared/api/cached.py``: a one-chunk job made before completes at
once, with no queue message), and the record on its shard, which records the job's queue message
in the same transaction and sends it (shared/jobs/outbox.py): a job whose
message cannot be sent now is still accepted, and its shard sends it later.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.api import admission, cached, idempotency, webhook_requests
from shared.api.errors import ApiError
from shared.config import MAX_TEXT_CHARS_CEILING
from shared.jobs.shard import FindIdempotent
from shared.models import CreateJobRequest, JobRecord, JobStatus
from shared.synthesis.cache import scope_for
from shared.synthesis.errors import TextTooLongError
from shared.errors import CatalogueError
from shared.audio.formats import JOINABLE_FORMATS

MAX_STORED_INPUT_BYTES = 4 * MAX_TEXT_CHARS_CEILING
"""A multi-input job's text and its inputs' titles and voices, in UTF-8, at most: what the longest plain
text takes (MAX_TEXT_CHARS' ceiling in 4-byte characters), so its row fits the Durable Object's 2 MB."""

if TYPE_CHECKING:
    from shared.synthesis.catalogue import Resolved

if TYPE_CHECKING:
    from shared.dependencies import Dependencies


@dataclass(frozen=True)
class Submitted:
    record: JobRecord
    replayed: bool  # an earlier request with the same Idempotency-Key made it


async def submit_job(deps: Dependencies, tenant: str, body: CreateJobRequest, key: str | None = None) -> Submitted:
    """The tenant's new job (queued), or the one an earlier request with ``key`` made; ``ApiError`` if refused."""
    settings = deps.settings
    if body.inputs is not None:
        _check_inputs(body, settings.max_text_chars)
    elif not (body.text or "").strip():
        raise ApiError(422, "validation_error", "text: must not be blank", field="text")
    text = body.joined_text()  # the inputs' texts joined by a blank line (shared/synthesis/inputs.py)
    # SSML or lexicons: limits count the spoken text (shared/api/pronunciation.py, imported only for these)
    rendered = body.text_type == "ssml" or bool(body.lexicons)
    if rendered:
        from shared.api import pronunciation
    if rendered and len(text.encode("utf-8")) > pronunciation.source_limit_bytes(settings.max_text_chars):
        limit = pronunciation.source_limit_bytes(settings.max_text_chars)
        raise ApiError(
            422,
            "text_too_long",
            f"text: the document is over {limit:,} bytes (4 x MAX_TEXT_CHARS); split it into several jobs",
            field="text",
            extra={"maxBytes": limit},
        )
    if not rendered and body.inputs is None and len(text) > settings.max_text_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"text: {len(text):,} characters are over the limit of {settings.max_text_chars:,} (MAX_TEXT_CHARS);"
            " split the text into several jobs",
            field="text",
            extra={"maxChars": settings.max_text_chars},
        )
    try:
        resolved = deps.catalogue.validate(
            body.model,  # None: the catalogue's default (DEFAULT_MODEL, else the best available here)
            body.voice_id,
            body.format,
            sample_rate=body.sample_rate,
            text=None if rendered else text,
            speed=body.speed,
            instructions=body.instructions,
            timestamps=body.timestamps,
            require_provider=True,
        )
    except TextTooLongError as exc:
        raise ApiError(422, "text_too_long", str(exc), field="text", extra={"maxChars": exc.limit}) from exc
    except CatalogueError as exc:
        # "allowed" only when there is a choice to offer (the models, voices, formats usable here).
        extra = {"allowed": list(exc.allowed)} if exc.allowed else None
        raise ApiError(422, "validation_error", str(exc), field=exc.field, extra=extra) from exc
    if body.inputs is not None:
        _check_input_voices(deps, body, resolved)
    prepared = await pronunciation.prepare(deps, tenant, body, resolved) if rendered else None
    webhook_requests.check_webhook(deps, body)
    webhook_requests.check_deliver(deps, body)

    scoped = fingerprint = None
    if key is not None:
        # Keyed jobs live on their key's shard, so a repeat finds the first one there.
        scoped, fingerprint = idempotency.scoped_key(tenant, key), idempotency.request_fingerprint(body)
        shard = deps.jobs.shard_of(scoped)
        earlier = await deps.jobs.call(FindIdempotent(tenant=tenant, idempotency_key=scoped), shard=shard)
        if earlier is not None:
            idempotency.replay(earlier, fingerprint, key)  # 422 if the body differs
            return Submitted(earlier, replayed=True)
        job_id = idempotency.job_id_in_shard(deps.new_job_id, shard, deps.jobs.shard_count)
    else:
        job_id = deps.new_job_id()
    await admission.admit(deps, tenant)

    now = deps.clock()
    ttl = min(body.ttl_seconds or settings.job_ttl_seconds, settings.max_ttl_seconds)
    record = JobRecord(
        job_id=job_id,
        tenant=tenant,
        status=JobStatus.QUEUED,
        text=text,
        model=resolved.spec.id,
        voice_id=resolved.voice,
        format=resolved.format,
        sample_rate=resolved.sample_rate,
        speed=body.speed,
        instructions=body.instructions,
        created_at=now,
        updated_at=now,
        ttl_seconds=ttl,
        idempotency_key=scoped,
        request_hash=fingerprint,
        deadline_at=now + body.cancel_after_seconds if body.cancel_after_seconds else None,
        webhook_url=body.webhook_url,
        webhook_events=webhook_requests.webhook_event_list(body),
        deliver_url=body.deliver.url if body.deliver is not None else None,
        deliver_headers=webhook_requests.deliver_headers_json(body),
        delivery_state="pending" if body.deliver is not None else None,
        timestamps=body.timestamps,
        text_type=prepared.text_type if prepared is not None else None,
        lexicons=prepared.lexicons if prepared is not None else None,
        cache_scope=None if body.timestamps else scope_for(settings.synthesis_cache, tenant, body.cache),
    )
    if body.inputs is not None:
        record = _with_inputs(record, body, resolved)
    if record.cache_scope is not None and not rendered and body.inputs is None:  # inputs: joined by the consumer
        record = await cached.complete_from_cache(deps, record, resolved.spec)
    record = await admission.create_admitted(deps, record, keyed=key is not None)
    if record.job_id != job_id and key is not None and fingerprint is not None:
        idempotency.replay(record, fingerprint, key)  # a concurrent repeat won the race
        return Submitted(record, replayed=True)
    job_id = record.job_id  # an unkeyed job moves to another shard when its first one is at its share
    # Its queue message was recorded with it, in the same transaction, and sent by its shard
    # (shared/jobs/outbox.py): a job is never left without one, whatever fails after the commit.
    deps.log.info(
        "job_created", jobId=job_id, tenant=tenant, model=resolved.spec.id,
        characters=prepared.spoken_chars if prepared is not None else len(text),
    )
    return Submitted(record, replayed=False)


def _check_inputs(body: CreateJobRequest, max_chars: int) -> None:
    """What the model cannot check of a multi-input job: blank inputs, the total length, plain text only."""
    assert body.inputs is not None
    for index, item in enumerate(body.inputs):
        if not item.text.strip():
            field = f"inputs.{index}.text"
            raise ApiError(422, "validation_error", f"{field}: must not be blank", field=field)
    total = sum(len(item.text) for item in body.inputs)
    if total > max_chars:
        raise ApiError(
            422,
            "text_too_long",
            f"inputs: their texts are {total:,} characters together, over the limit of {max_chars:,}"
            " (MAX_TEXT_CHARS); split them into several jobs",
            field="inputs",
            extra={"maxChars": max_chars},
        )
    from shared.synthesis.inputs import encode_inputs

    stored = len(body.joined_text().encode("utf-8")) + len(encode_inputs(body.inputs).encode("utf-8"))
    if stored > MAX_STORED_INPUT_BYTES:
        raise ApiError(
            422, "text_too_long",
            f"inputs: their texts, titles and voices take {stored:,} bytes, over the {MAX_STORED_INPUT_BYTES:,} one"
            " job can store; split them into several jobs",
            field="inputs", extra={"maxBytes": MAX_STORED_INPUT_BYTES},
        )
    if body.text_type == "ssml" or body.lexicons:
        field = "textType" if body.text_type == "ssml" else "lexicons"
        raise ApiError(
            422, "validation_error", f"{field}: inputs are plain text; SSML and lexicons go with text", field=field
        )


def _check_input_voices(deps: Dependencies, body: CreateJobRequest, resolved: Resolved) -> None:
    """Each input's voice is one of the job's model, and the job's format can join the inputs' audio."""
    assert body.inputs is not None
    spec = resolved.spec
    if resolved.format not in JOINABLE_FORMATS and resolved.format not in spec.encoded_formats:
        joinable = [f for f in spec.formats if f in JOINABLE_FORMATS or f in spec.encoded_formats]
        raise ApiError(
            422, "validation_error",
            f"format: a job with inputs joins their audio into one file, and {resolved.format} audio of model"
            f" {spec.id!r} cannot be joined; use one of {', '.join(joinable)}",
            field="format", extra={"allowed": joinable} if joinable else None,
        )
    for index, item in enumerate(body.inputs):
        if item.voice_id is None or item.voice_id == resolved.voice:
            continue
        if item.voice_id not in spec.voices:
            field = f"inputs.{index}.voiceId"
            raise ApiError(
                422, "validation_error",
                f"{field}: model {spec.id!r} has no voice {item.voice_id!r}", field=field,
                extra={"allowed": list(spec.voices)},
            )


def _with_inputs(record: JobRecord, body: CreateJobRequest, resolved: Resolved) -> JobRecord:
    """``record`` with a multi-input job's fields (shared/synthesis/inputs.py)."""
    from shared.text.chunking import chunk_texts
    from shared.synthesis.inputs import encode_inputs

    assert body.inputs is not None
    encoded = encode_inputs(body.inputs)
    # How many chunks each input makes, as the consumer plans them: progress counts inputs from it.
    counts = [len(chunk_texts(item.text, resolved.spec.max_input_chars)) for item in body.inputs]
    ends = list(itertools.accumulate(counts))
    return record.model_copy(update={
        "inputs": encoded,
        "input_count": len(body.inputs),
        "gap_ms": body.gap_ms or 0,
        "input_chunks": ",".join(str(e) for e in ends),
    })
