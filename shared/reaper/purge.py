"""Purge: expired jobs lose their audio (and word timings) first, then their rows.

In that order, so that a run killed in between leaves rows whose audio is
already gone (the next run deletes the same keys again, a no-op, then the
rows), never rows pointing at nothing the client could still fetch: the
API answers 404 for an expired job whatever the reaper has done.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.captions.location import timings_key_of
from shared.dependencies import Dependencies
from shared.jobs.rpc_payloads import MAX_PAGE_ROWS
from shared.jobs.shard import Expired
from shared.platform_limits import R2_MAX_KEYS_PER_DELETE
from shared.reaper.budget import Phase
from shared.reaper.lease import RunLease
from shared.reaper.report import ReaperReport

PAGE = MAX_PAGE_ROWS  # rows per query; their audio and timings keys are deleted R2_MAX_KEYS_PER_DELETE a call


def rotated(shards: Sequence[str], run_id: str) -> list[str]:
    """The shards starting at one picked by the run id, so that a run that
    runs out of budget does not always leave the same shards for last."""
    if not shards:
        return []
    start = int(run_id[:8] or "0", 16) % len(shards) if run_id else 0
    return [*shards[start:], *shards[:start]]


async def purge_expired(deps: Dependencies, report: ReaperReport, budget: Phase, lease: RunLease) -> None:
    now = deps.clock()
    dry_run = report.dry_run
    for shard in rotated(deps.jobs.shards(), report.run_id):
        after: tuple[float, str] | None = None
        try:
            while budget.allows(3 + 1):  # query, delete, delete rows, lease renewal
                budget.take("rpc")
                page = await deps.jobs.call(Expired(now=now, limit=PAGE, after=after), shard=shard)
                if not page:
                    break
                report.expired_jobs += len(page)
                # The audio and, for jobs that asked for them, the word timings beside it.
                keys = [k for r in page for k in (r.audio_key, timings_key_of(r)) if k]
                if not dry_run:
                    for start in range(0, len(keys), R2_MAX_KEYS_PER_DELETE):
                        budget.take("delete")
                        await deps.bucket.delete(keys[start : start + R2_MAX_KEYS_PER_DELETE])
                report.deleted_objects += len(keys)
                if dry_run:
                    report.deleted_jobs += len(page)
                else:
                    budget.take("rpc")
                    report.deleted_jobs += await deps.jobs.delete([r.job_id for r in page], shard=shard)
                last = page[-1]
                after = (last.expires_at or now, last.job_id)
                if len(page) < PAGE:
                    break
        except Exception as exc:  # this shard waits for the next run; the others go on
            report.error(f"purge {shard}", exc)
        await lease.checkpoint()
        if not budget.allows(2):
            return
