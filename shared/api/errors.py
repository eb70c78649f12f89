"""HTTP errors with JSON bodies: ``{"error": {"code", "message", "field"?}}``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.http import HttpResponse
from shared.models import ErrorBody, ErrorDetail


class ApiError(Exception):
    """Raised by a handler to answer with a 4xx/5xx JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def to_response(self) -> HttpResponse:
        body = ErrorBody(error=ErrorDetail(code=self.code, message=self.message, field=self.field)).to_json_dict()
        body["error"].update(self.extra)
        return HttpResponse.json(self.status, body, self.headers)


def not_found(job_id: str | None = None) -> ApiError:
    what = f"job {job_id!r} not found" if job_id else "not found"
    return ApiError(404, "not_found", what)


STORAGE_RETRY_AFTER = {"disk_full": 30, "locked": 5, "io_error": 10, "read_only": 60}
"""Seconds a client is asked to wait (``Retry-After``) after each storage condition."""


def storage_unavailable(condition: str) -> ApiError:
    """A storage condition (``StorageUnavailableError``) as the API answers it: a full disk is
    507 Insufficient Storage, any other 503; both with ``Retry-After`` and the condition named.
    Nothing was changed by the refused request."""
    retry = STORAGE_RETRY_AFTER.get(condition, 10)
    if condition == "disk_full":
        return ApiError(507, "storage_full", "the service's storage is full; nothing was changed, retry later",
                        headers={"Retry-After": str(retry)}, extra={"condition": condition})
    return ApiError(503, "storage_unavailable",
                    f"the service's storage is unavailable ({condition.replace('_', ' ')}); retry later",
                    headers={"Retry-After": str(retry)}, extra={"condition": condition})
