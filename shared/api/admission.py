"""Admission of a new job: its tenant's creation rate (``admit``) and jobs in flight
(``MAX_JOBS_IN_FLIGHT``, ``create_admitted``), the latter decided inside the job's own shard.

Each shard holds a share of the tenant's limit (``shard_share``: the limit
split over the shards, the remainder on the first ones, so the shares add up
to exactly the limit), and the job's shard counts and inserts in one
transaction (``createWithinBudget``): one Durable Object request, and no two
submits both see room for one job.

What stays exact:

- **Never more than the limit in flight** through unkeyed submits, even
  under concurrent submits: a shard admits only while the tenant has fewer
  than its share there, and the shares add up to the limit.
- **Never refused below the limit**: a shard at its share does not refuse
  the job; the job gets a fresh id on another shard not yet asked (each
  refusal says how many jobs that shard holds). The 429 comes only when
  every shard was at its share when asked, i.e. the tenant had the limit
  in flight (less any that finished while the shards were asked).
- **Keyed submits** (``Idempotency-Key``) must live on their key's shard
  (a repeat finds the first one there), so they cannot move. When that
  shard is at its share, the exact count over every shard decides:
  admitted while the total is under the limit (the shard then holds more
  than its share, and concurrent submits in that window can overshoot the
  limit by the excess); refused at the limit.

Cost: one Durable Object request per admitted submit while the job's shard
is under its share; near the limit, one more per shard asked.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.idempotency import job_id_in_shard
from shared.errors import ShardFullError
from shared.jobs.shard import Create, CreateWithinBudget
from shared.jobs.sharding import all_shards
from shared.models import JobRecord
from shared.security.ratelimit import job_creation_key

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

IN_FLIGHT_RETRY_AFTER = 10


async def admit(deps: Dependencies, tenant: str) -> None:
    """429 with Retry-After when the tenant is over its job creation rate.

    The cap on jobs in flight is decided by the shard that stores the job (``create_admitted``)."""
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


def shard_share(limit: int, shard_count: int, shard: str) -> int:
    """Shard ``shard``'s share of a per-tenant limit: the shares of all shards add up to ``limit``."""
    index = all_shards(shard_count).index(shard)
    return limit // shard_count + (1 if index < limit % shard_count else 0)


def _refused(active: int, limit: int) -> ApiError:
    return ApiError(
        429,
        "too_many_jobs_in_flight",
        f"{active} jobs are queued or processing (limit {limit}); wait for some to finish",
        headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER)},
    )


async def create_admitted(deps: Dependencies, record: JobRecord, *, keyed: bool) -> JobRecord:
    """Create ``record`` if the tenant is under ``MAX_JOBS_IN_FLIGHT``; 429 otherwise.

    An unkeyed job may come back with another id (the shard it was drawn for
    was at its share); a keyed one keeps its id. A repeat of an id or key
    returns the stored job, as ``create`` does.
    """
    jobs = deps.jobs
    limit = deps.settings.max_jobs_in_flight
    if limit <= 0:
        return await jobs.call(Create(record=record))
    held: dict[str, int] = {}  # shard -> the tenant's jobs in flight there, from its refusal
    while True:
        shard = jobs.shard_of(record.job_id)
        try:
            return await jobs.call(
                CreateWithinBudget(record=record, budget=shard_share(limit, jobs.shard_count, shard))
            )
        except ShardFullError as exc:
            held[shard] = exc.active
        if keyed:
            break
        untried = [s for s in jobs.shards() if s not in held]
        if not untried:
            raise _refused(sum(held.values()), limit)
        job_id = job_id_in_shard(deps.new_job_id, untried[0], jobs.shard_count)
        record = record.model_copy(update={"job_id": job_id})
    # A keyed job's shard is at its share: the exact count over every shard decides.
    others = await jobs.count_active(record.tenant, [s for s in jobs.shards() if s not in held])
    total = others + sum(held.values())
    if total >= limit:
        raise _refused(total, limit)
    try:
        return await jobs.call(CreateWithinBudget(record=record, budget=limit - others))
    except ShardFullError as exc:  # others took the room meanwhile
        raise _refused(others + exc.active, limit) from exc
