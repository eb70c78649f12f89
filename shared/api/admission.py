"""Admission of a new job: the tenant's creation rate and its jobs in flight (429 with Retry-After)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.security.ratelimit import job_creation_key

if TYPE_CHECKING:
    from shared.api.deps import ApiDeps

IN_FLIGHT_RETRY_AFTER = 10


async def admit(deps: ApiDeps, tenant: str) -> None:
    """429 with Retry-After when the tenant is over its creation rate or its jobs in flight."""
    settings = deps.settings
    if deps.rate_limiter is not None and settings.job_rate_limit > 0:
        decision = await deps.rate_limiter.limit(job_creation_key(tenant))
        if not decision.allowed:
            raise ApiError(
                429,
                "rate_limited",
                f"at most {settings.job_rate_limit} jobs per {settings.job_rate_period} s; retry later",
                headers={"Retry-After": str(max(1, decision.retry_after))},
            )
    if settings.max_jobs_in_flight > 0:
        active = await deps.jobs.count_active(tenant)
        if active >= settings.max_jobs_in_flight:
            raise ApiError(
                429,
                "too_many_jobs_in_flight",
                f"{active} jobs are queued or processing (limit {settings.max_jobs_in_flight});"
                " wait for some to finish",
                headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER)},
            )
