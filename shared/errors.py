"""Errors of the core, one place. Each says when it is raised."""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any, ClassVar


class PipelineError(Exception):
    """Base of every error the core raises on purpose."""


class ShardError(PipelineError):
    """Base of the errors a job shard answers with (as values: an exception thrown across
    Cloudflare's RPC boundary arrives as a bare JS ``Error`` that has lost its Python type).

    ``code`` names it on the wire (``SHARD_ERRORS``); its fields are its constructor's
    arguments, each kept as the attribute of the same name."""

    code: ClassVar[str]

    def fields(self) -> dict[str, Any]:
        names = list(inspect.signature(type(self).__init__).parameters)[1:]
        return {name: getattr(self, name) for name in names}


class JobNotFoundError(ShardError):
    """Raised when a job id is unknown to its shard (or belongs to another tenant)."""

    code = "not_found"

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found")
        self.job_id = job_id


class IllegalTransitionError(ShardError):
    """Raised when a job is asked to move to a state its current state forbids."""

    code = "illegal_transition"

    def __init__(self, job_id: str, current: str, target: str) -> None:
        super().__init__(f"job {job_id!r} cannot go from {current!r} to {target!r}")
        self.job_id = job_id
        self.current = current
        self.target = target


class LeaseHeldError(ShardError):
    """Raised when a job is claimed while another worker's lease is still live."""

    code = "lease_held"

    def __init__(self, job_id: str, lease_until: float, holder: str | None = None) -> None:
        super().__init__(f"job {job_id!r} is leased until {lease_until}")
        self.job_id = job_id
        self.lease_until = lease_until
        self.holder = holder  # the queue message whose delivery holds it; None for a lease from before holders


class ShardFullError(ShardError):
    """Raised by a shard's admitted create when the tenant already has ``budget`` or more jobs
    queued or processing there (``active`` of them)."""

    code = "shard_full"

    def __init__(self, active: int, budget: int) -> None:
        super().__init__(f"{active} jobs in flight on this shard (its share of the limit: {budget})")
        self.active = active
        self.budget = budget


class BoundaryError(PipelineError):
    """Raised when a value cannot cross an RPC or queue boundary (type or size)."""


class LimitExceededError(PipelineError):
    """Raised when a Cloudflare limit (size, count, parameters) would be exceeded."""


class NoSuchUploadError(PipelineError):
    """Raised when a multipart upload is unknown, already completed or aborted (R2's NoSuchUpload, 10024)."""


class InvalidPartError(PipelineError):
    """Raised when ``complete`` names a part that was not uploaded, or with another ETag (R2's InvalidPart)."""


class ConfigError(PipelineError):
    """Raised when a setting is missing or malformed; the message names the setting."""


class SynthesisError(PipelineError):
    """Base of provider failures."""


class TransientSynthesisError(SynthesisError):
    """Raised by a provider when a retry may succeed (429, 5xx, timeout)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSynthesisError(SynthesisError):
    """Raised by a provider when the request can never succeed (bad input, 4xx)."""


class CatalogueError(PermanentSynthesisError, ValueError):
    """Base of a request's validation errors against the model catalogue (``shared.synthesis.errors``)
    and the audio formats (``shared.audio.errors``): bad input, so permanent and a ``ValueError``.

    ``field`` is the JSON name of the offending request field, ``allowed`` the accepted values.
    """

    field: str = ""

    def __init__(self, message: str, *, value: object = None, allowed: Iterable[object] = ()) -> None:
        super().__init__(message)
        self.value = value
        self.allowed: tuple[object, ...] = tuple(allowed)

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready description (for a 400 body): field, message, allowed values."""
        return {
            "field": self.field,
            "message": str(self),
            "allowed": [a if isinstance(a, (str, int)) else str(a) for a in self.allowed],
        }


def listing(allowed: Iterable[object]) -> str:
    """Allowed values as a catalogue error's message lists them: strings quoted, comma-separated."""
    return ", ".join(repr(a) if isinstance(a, str) else str(a) for a in allowed)


class HttpClientError(PipelineError):
    """Raised by an ``HttpClient`` when no HTTP response arrived (base of the two below)."""


class HttpTimeoutError(HttpClientError):
    """Raised by an ``HttpClient`` when the exchange did not finish within its timeout."""


class HttpConnectionError(HttpClientError):
    """Raised by an ``HttpClient`` when the connection failed or the response was unreadable."""


class StorageUnavailableError(ShardError):
    """Raised when storage cannot serve a call right now (a full disk, a database locked past its
    timeout, an I/O error): nothing was changed, and the same call may succeed later.

    ``condition`` names it: ``disk_full``, ``locked``, ``io_error`` or ``read_only``."""

    code = "storage_unavailable"

    CONDITIONS = ("disk_full", "locked", "io_error", "read_only")

    def __init__(self, condition: str, detail: str = "") -> None:
        super().__init__(f"storage unavailable ({condition}){': ' + detail if detail else ''}")
        self.condition = condition if condition in self.CONDITIONS else "io_error"
        self.detail = detail


class LexiconLimitError(ShardError):
    """Raised when a lexicon put would pass the tenant's number of lexicons, or the versions kept of one
    (``reason``: which limit)."""

    code = "lexicon_limit"

    def __init__(self, reason: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


SHARD_ERRORS: dict[str, type[ShardError]] = {
    cls.code: cls
    for cls in (
        JobNotFoundError, IllegalTransitionError, LeaseHeldError, ShardFullError, StorageUnavailableError,
        LexiconLimitError,
    )
}
"""Every error a shard answers with, by its code on the wire."""


MAX_ERROR_TEXT = 1000
"""The longest text of an error value's field (a storage error's detail can be long)."""


def error_value(exc: ShardError) -> dict[str, Any]:
    """``exc`` as a shard answers with it: ``{"code", "fields"}`` (``shard_error`` reverses it)."""
    fields = {k: v[:MAX_ERROR_TEXT] if isinstance(v, str) else v for k, v in exc.fields().items()}
    return {"code": exc.code, "fields": fields}


def shard_error(error: dict[str, Any]) -> PipelineError:
    """A shard's error value (``{"code", "fields"}``) as the exception it stands for;
    an unknown code, or fields its class does not take, as a ``BoundaryError``."""
    cls = SHARD_ERRORS.get(str(error.get("code")))
    fields = error.get("fields")
    if cls is not None and isinstance(fields, dict):
        try:
            return cls(**fields)
        except TypeError:
            pass
    return BoundaryError(f"shard RPC refused the call: {error}")
