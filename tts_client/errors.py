"""Errors the client raises. Each says when it is raised."""

from __future__ import annotations

from typing import Any

from shared.models import JobView


class ClientError(Exception):
    """Base of every error the client raises on purpose."""


class TransportError(ClientError):
    """Raised when the API cannot be reached or the connection breaks (no HTTP answer)."""


class ApiError(ClientError):
    """Raised when the API answers 4xx/5xx; ``code`` and ``field`` come from its JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        details: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.details = dict(details or {})  # the error body's other keys, e.g. "allowed"
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """Worth retrying later: rate limited, or the server had a moment."""
        return self.status in (408, 429, 500, 502, 503, 504)


class WaitTimeoutError(ClientError):
    """Raised by ``wait()`` when the job is not finished within its timeout; ``job`` is the last view seen."""

    def __init__(self, job_id: str, timeout: float, job: JobView | None) -> None:
        status = job.status.value if job is not None else "unknown"
        super().__init__(f"job {job_id} still {status} after {timeout:g} s")
        self.job_id = job_id
        self.timeout = timeout
        self.job = job
