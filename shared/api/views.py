"""Turning job records into what clients see, and list cursors."""

from __future__ import annotations

import base64
import binascii
import json

from shared.api.errors import ApiError
from shared.models import JobRecord, JobStatus, JobView, iso


def job_path(job_id: str) -> str:
    return f"/v1/jobs/{job_id}"


def job_view(record: JobRecord, base_url: str) -> JobView:
    completed = record.status is JobStatus.COMPLETED
    return JobView(
        job_id=record.job_id,
        status=record.status,
        model=record.model,
        voice_id=record.voice_id,
        format=record.format,
        created_at=iso(record.created_at),  # type: ignore[arg-type]
        updated_at=iso(record.updated_at),  # type: ignore[arg-type]
        started_at=iso(record.started_at),
        completed_at=iso(record.completed_at),
        expires_at=iso(record.expires_at),
        attempts=record.attempts,
        characters=record.characters,
        error=record.error,
        mime_type=record.mime_type if completed else None,
        size_bytes=record.size_bytes if completed else None,
        audio_url=f"{base_url}{job_path(record.job_id)}/audio" if completed else None,
        result_url=f"{base_url}{job_path(record.job_id)}/result",
    )


def encode_cursor(record: JobRecord) -> str:
    raw = json.dumps([record.created_at, record.job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, job_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return float(created), str(job_id)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned", field="cursor") from exc
