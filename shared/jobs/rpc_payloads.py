"""The payload of each shard RPC operation, validated by pydantic inside the Durable Object.

Field names are the wire's (camelCase); ``extra="forbid"`` refuses a field
the operation does not know, so a caller's typo is a ``bad_payload`` error,
not a silently ignored value.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.models import JobRecord, JobStatus

MAX_PAGE_ROWS = 1000
"""The most rows (or job ids) one paged shard operation takes or returns."""
MAX_WAIT_TIMEOUT = 900
"""The longest ``waitForChange`` holds a call open, in seconds."""


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobId(Payload):
    jobId: str


class Get(JobId):
    withText: bool = False


class Claim(JobId):
    leaseSeconds: float = Field(gt=0)
    holder: str | None = Field(default=None, min_length=1, max_length=128)


class RenewLease(JobId):
    holder: str = Field(min_length=1, max_length=128)
    leaseSeconds: float = Field(gt=0)


class CacheCounts(Payload):
    """The synthesis cache's part in a completed job (shared/synthesis/cache.py)."""

    reused: int = Field(default=0, ge=0)
    total: int = Field(default=0, ge=0)
    savedChars: int = Field(default=0, ge=0)


class Complete(JobId):
    audioKey: str
    mimeType: str
    sizeBytes: int
    etag: str
    characters: int = 0
    cache: CacheCounts | None = None


class WithError(JobId):
    error: str


class JobIds(Payload):
    jobIds: list[str] = Field(max_length=MAX_PAGE_ROWS)


class ListJobs(Payload):
    tenant: str
    limit: int = Field(ge=1, le=MAX_PAGE_ROWS)
    before: tuple[float, str] | None = None


class Tenant(Payload):
    tenant: str


class Expired(Payload):
    now: float
    limit: int = Field(ge=1, le=MAX_PAGE_ROWS)
    after: tuple[float, str] | None = None


class Stale(Payload):
    status: JobStatus
    updatedBefore: float
    limit: int = Field(ge=1, le=MAX_PAGE_ROWS)
    after: tuple[float, str] | None = None


class RepairItem(JobId):
    expectedUpdatedAt: float
    action: Literal["resend", "requeue", "fail"]
    error: str = Field(default="", max_length=2000)


class Repair(Payload):
    items: list[RepairItem] = Field(max_length=100)


LEASE_NAME = r"^[a-z][a-z0-9_-]{0,31}$"


class ReaperLease(Payload):
    name: str = Field(pattern=LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    now: float
    until: float
    peek: bool = False


class ReaperSave(Payload):
    name: str = Field(pattern=LEASE_NAME)
    holder: str = Field(min_length=1, max_length=64)
    until: float
    state: dict[str, str | int | float | bool | None] | None = None


class Create(Payload):
    record: JobRecord


class CreateWithinBudget(Create):
    budget: int = Field(ge=0)


class Progress(JobId):
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    characters: int = Field(ge=0)
    leaseSeconds: float | None = Field(default=None, gt=0)


class FindIdempotent(Payload):
    tenant: str
    idempotencyKey: str = Field(min_length=1, max_length=128)


class RecordWebhook(JobId):
    status: Literal["pending", "delivered", "failed"]
    attempts: int = Field(ge=0)
    lastStatus: int | None = None
    lastError: str | None = Field(default=None, max_length=2000)




class WaitForChange(JobId):
    """Answer when the job differs from ``sinceStatus`` (absent: its status now) or its
    chunks done from ``sinceDone`` (absent with ``withProgress``: its chunks done now);
    ``untilTerminal``: only once it is final; ``tenant``: at once when the job is not its."""

    timeout: float = Field(ge=0, le=MAX_WAIT_TIMEOUT)
    sinceStatus: JobStatus | None = None
    sinceDone: int | None = Field(default=None, ge=0)
    untilTerminal: bool = False
    withProgress: bool = False
    tenant: str | None = Field(default=None, max_length=200)  # set: another tenant's job answers as no job, at once


# --- the chunk ledger (shared/jobs/chunks.py) ---


class ChunkPlan(JobId):
    plan: str = Field(min_length=1, max_length=64)
    total: int = Field(ge=1, le=100_000)
    holder: str = Field(min_length=1, max_length=128)
    stored: list[int] = Field(default_factory=list, max_length=100_000)
    leaseSeconds: float = Field(gt=0)


class ChunkClaim(JobId):
    plan: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    holder: str = Field(min_length=1, max_length=128)
    leaseSeconds: float = Field(gt=0)
    jobLeaseSeconds: float = Field(gt=0)
    renew: bool = False


class ChunkStored(JobId):
    plan: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    characters: int = Field(ge=0)
    jobLeaseSeconds: float = Field(gt=0)


class ChunkRelease(JobId):
    plan: str = Field(min_length=1, max_length=64)
    index: int = Field(ge=0)
    holder: str = Field(min_length=1, max_length=128)
    error: str | None = Field(default=None, max_length=2000)


class ChunkInfo(JobId):
    index: int = Field(ge=0)
