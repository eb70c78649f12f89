"""Pydantic models for every edge: HTTP bodies, queue messages, RPC payloads.

JSON uses the old system's camelCase names (``jobId``, ``voiceId``,
``mimeType``, ``base64Audio``, ``createdAt``); Python uses snake_case.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]
# Names that travel into headers and R2 metadata: printable ASCII only, so a
# model or voice can never smuggle a CR/LF into a header.
SafeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@/._:+-]{1,100}$")]


class JobStatus(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- HTTP --------------------------------------------------------------------


class CreateJobRequest(CamelModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    text: str = Field(min_length=1, description="Text to speak; at most MAX_TEXT_CHARS characters.")
    model: SafeName | None = Field(default=None, description="Model id; DEFAULT_MODEL when absent.")
    voice_id: SafeName | None = Field(default=None, description="Voice of the model; its default when absent.")
    format: SafeName | None = Field(default=None, description="Audio format; the model's default when absent.")
    ttl_seconds: int | None = Field(
        default=None, ge=60, description="How long the finished job and its audio live (capped by the server)."
    )


class JobView(CamelModel):
    """A job as ``GET /v1/jobs/{jobId}`` shows it."""

    job_id: str
    status: JobStatus
    model: str
    voice_id: str | None = None
    format: str
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    expires_at: datetime | None = None
    attempts: int = 0
    characters: int = 0
    error: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    audio_url: str | None = None
    result_url: str | None = None


class JobList(CamelModel):
    jobs: list[JobView]
    next_cursor: str | None = None


class LegacyResult(CamelModel):
    """The old system's contract: ``{jobId, status, base64Audio, mimeType}``.

    ``base64Audio`` and ``mimeType`` are ``null`` until the job is completed.
    """

    job_id: str
    status: JobStatus
    base64_audio: str | None = None
    mime_type: str | None = None
    error: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        # Old clients read the four keys unconditionally: keep them even when null.
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("error") is None:
            data.pop("error", None)
        return data


class ErrorDetail(CamelModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(CamelModel):
    """Every 4xx/5xx body: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


# --- Queue -------------------------------------------------------------------


class SynthesizeJob(BaseModel):
    """Queue message body (command): small and fixed, never the text."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    jobId: JobId
    shard: str = Field(pattern=r"^shard-[0-9]{1,4}$")


# --- RPC (Durable Object) ----------------------------------------------------


class JobRecord(CamelModel):
    """A job as the shard stores it and returns it over RPC."""

    job_id: str
    tenant: str
    status: JobStatus
    text: str = ""  # empty in listings and reaper queries, which skip it
    model: str
    voice_id: str | None = None
    format: str
    created_at: float
    updated_at: float
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None
    ttl_seconds: int
    attempts: int = 0
    lease_until: float | None = None
    characters: int = 0
    error: str | None = None
    audio_key: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    etag: str | None = None

    def to_rpc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def iso(ts: float | None) -> datetime | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc)
