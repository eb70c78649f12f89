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
