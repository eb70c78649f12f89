"""Turning job records into what clients see, and list cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from typing import cast

from shared.api.errors import ApiError
from shared.models import CacheView, DeliveryState, DeliveryView, JobProgress, LexiconRef
from shared.text.refs import parse_refs
from shared.models import EVENT_OF_STATUS, JOB_ID_PATTERN, JobRecord, JobStatus, JobView, WebhookView, iso, webhook_events

_JOB_ID = re.compile(JOB_ID_PATTERN)

AudioQuery = Callable[[JobRecord], str]
"""A completed job's signed-link query string (``expires=...&signature=...``)."""


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def delivery_view(record: JobRecord) -> DeliveryView | None:
    """The delivery's state, attempts and last error; never its URL or headers."""
    if not record.deliver_url or record.delivery_state is None:
        return None
    return DeliveryView(
        state=cast(DeliveryState, record.delivery_state),
        attempts=record.delivery_attempts,
        last_error=record.delivery_last_error,
    )


def webhook_view(record: JobRecord) -> WebhookView | None:
    if not record.webhook_url:
        return None
    events = webhook_events(record)
    status = record.webhook_status
    if status is None:
        event = EVENT_OF_STATUS.get(record.status)
        status = "skipped" if record.status.is_terminal and event not in events else "waiting"
    return WebhookView(
        url=record.webhook_url,
        events=events,
        status=status,  # type: ignore[arg-type]  # a str column holding one of the Literal's values; pydantic checks it
        attempts=record.webhook_attempts,
        last_status_code=record.webhook_last_status,
        last_error=record.webhook_last_error,
        last_attempt_at=iso(record.webhook_last_attempt_at),
    )


def job_view(record: JobRecord, base_url: str, audio_query: AudioQuery | None = None) -> JobView:
    """What clients see; ``audio_query`` signs the audioUrl (absent: the URL needs the bearer token)."""
    completed = record.status is JobStatus.COMPLETED
    audio_url = captions_url = None
    if completed:
        query = "?" + audio_query(record) if audio_query is not None else ""
        audio_url = f"{base_url}{job_path(record.job_id)}/audio{query}"
        if record.timestamps or record.input_count:
            captions_url = f"{base_url}{job_path(record.job_id)}/captions.vtt{query}"
    return JobView(
        job_id=record.job_id,
        status=record.status,
        model=record.model,
        voice_id=record.voice_id,
        format=record.format,
        sample_rate=record.sample_rate,
        created_at=iso(record.created_at),
        updated_at=iso(record.updated_at),
        started_at=iso(record.started_at),
        completed_at=iso(record.completed_at),
        expires_at=iso(record.expires_at),
        attempts=record.attempts,
        characters=record.characters,
        progress=_progress(record),
        error=record.error,
        mime_type=record.mime_type if completed else None,
        size_bytes=record.size_bytes if completed else None,
        audio_url=audio_url,
        result_url=f"{base_url}{job_path(record.job_id)}/result",
        deadline_at=iso(record.deadline_at),
        webhook=webhook_view(record),
        delivery=delivery_view(record),
        timestamps=record.timestamps,
        captions_url=captions_url,
        text_type=record.text_type,
        lexicons=[LexiconRef(name=n, version=v) for n, v in parse_refs(record.lexicons)] if record.lexicons else None,
        cache=cache_view(record),
        input_count=record.input_count or None,
        gap_ms=record.gap_ms if record.input_count else None,
    )


def _progress(record: JobRecord) -> JobProgress | None:
    """Chunks done of total; a job with inputs counts its inputs too (every chunk of one stored: done)."""
    if not record.input_count:
        if not record.progress_total:
            return None
        return JobProgress(done=record.progress_done, total=record.progress_total)
    done = record.input_count if record.status is JobStatus.COMPLETED else record.progress_inputs
    return JobProgress(
        done=record.progress_done, total=record.progress_total, inputs_done=done, inputs_total=record.input_count
    )


def cache_view(record: JobRecord) -> CacheView | None:
    """The job's ``cache`` field: None when it skipped the cache; counts once it is completed."""
    if record.cache_scope is None:
        return None
    total = record.cache_total or record.progress_total or 1
    reused = min(record.cache_reused, total)
    return CacheView(hit=record.status is JobStatus.COMPLETED and reused == total, chunks_reused=reused, chunks_total=total)


def encode_cursor(record: JobRecord) -> str:
    raw = json.dumps([record.created_at, record.job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created = float(created)
        # Only what encode_cursor makes: a finite time and a job id (NaN or inf cannot cross RPC).
        if not math.isfinite(created) or not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            raise ValueError("not a cursor")
        return created, job_id
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned", field="cursor") from exc
