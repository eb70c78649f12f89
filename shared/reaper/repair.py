"""Repair: jobs stuck in ``queued`` or ``processing`` are re-sent, re-queued or failed.

- queued, untouched for ``reaper_stuck_seconds``: its queue message was
  lost (or the dead-letter handler never ran); the message is sent again.
- processing, whose lease ran out ``reaper_stuck_seconds`` ago: the consumer
  died and no redelivery picked it up; back to queued, and a message.
- either, once its claims lapsed ``max_lapsed_claims`` times (it kills the
  Worker that runs it) or it was created ``reaper_give_up_seconds`` ago:
  failed, so it expires like any finished job. Crashes alone never fail it.

Each repair is a compare-and-set on the row (``updated_at`` unchanged since
the reaper read it), so a job a consumer has just claimed is never touched,
and of two runs only one repairs a job. A re-sent or re-queued job's message
is recorded by its shard in the repair's own transaction and sent by the
shard (shared/jobs/outbox.py), so no crash leaves a repaired job without
one. A duplicate message is harmless (claims are leased, completion is
idempotent).
"""

from __future__ import annotations

from typing import Any, Literal

from shared.config import Settings
from shared.dependencies import Dependencies
from shared.jobs.shard import Repair, RepairItem, Stale
from shared.models import JobRecord, JobStatus
from shared.platform_limits import QUEUE_SEND_BATCH_MAX_MESSAGES
from shared.reaper.budget import Phase
from shared.reaper.lease import RunLease
from shared.reaper.purge import rotated
from shared.reaper.report import ReaperReport

PAGE = QUEUE_SEND_BATCH_MAX_MESSAGES  # repairs per RPC: their shard sends the messages in one sendBatch


def repair_action(
    record: JobRecord, now: float, settings: Settings
) -> tuple[Literal["resend", "requeue", "fail"], str] | None:
    """What to do with a job found in a stale query: ``(action, error)`` or None."""
    stuck_for = settings.reaper_stuck_seconds
    if record.status is JobStatus.QUEUED:
        if record.updated_at > now - stuck_for:
            return None
    elif record.status is JobStatus.PROCESSING:
        if (record.lease_until or 0) > now - stuck_for:
            return None
    else:
        return None
    if record.lapses >= settings.max_lapsed_claims:
        return "fail", f"stuck in {record.status.value}; its Worker died {record.lapses} times running it"
    if record.created_at <= now - settings.reaper_give_up_seconds:
        return "fail", f"stuck in {record.status.value}; not finished {settings.reaper_give_up_seconds}s after creation"
    if record.status is JobStatus.QUEUED:
        return "resend", ""
    return "requeue", "processing lease ran out; re-queued by the reaper"


async def repair_stuck(deps: Dependencies, report: ReaperReport, budget: Phase, lease: RunLease) -> None:
    now = deps.clock()
    s = deps.settings
    cutoffs = (
        (JobStatus.QUEUED, now - s.reaper_stuck_seconds),
        # updated_at of a processing job is its claim time; its lease ran out lease_seconds later.
        (JobStatus.PROCESSING, now - s.lease_seconds - s.reaper_stuck_seconds),
    )
    for shard in rotated(deps.jobs.shards(), report.run_id):
        try:
            for status, cutoff in cutoffs:
                after: tuple[float, str] | None = None
                while budget.allows(2 + 1):  # query, repair (its shard sends the messages), lease renewal
                    budget.take("rpc")
                    page = await deps.jobs.call(
                        Stale(status=status, updated_before=cutoff, limit=PAGE, after=after),
                        shard=shard,
                    )
                    if not page:
                        break
                    await _repair_page(deps, report, budget, shard, page, now)
                    after = (page[-1].updated_at, page[-1].job_id)
                    if len(page) < PAGE:
                        break
        except Exception as exc:
            report.error(f"repair {shard}", exc)
        await lease.checkpoint()
        if not budget.allows(2):
            return


async def _repair_page(
    deps: Dependencies, report: ReaperReport, budget: Phase, shard: str, page: list[JobRecord], now: float
) -> None:
    items: list[RepairItem] = []
    for record in page:
        decision = repair_action(record, now, deps.settings)
        if decision is None:
            continue
        action, error = decision
        items.append(
            RepairItem(job_id=record.job_id, expected_updated_at=record.updated_at, action=action, error=error)
        )
    report.stuck_jobs += len(items)
    if not items:
        return
    if report.dry_run:
        _count(report, [i.action for i in items])
        return
    budget.take("rpc")
    repaired = await deps.jobs.call(Repair(items=items), shard=shard)
    report.repair_conflicts += len(items) - len(repaired)
    wanted = {i.job_id: i.action for i in items}
    _count(report, [wanted[r.job_id] for r in repaired])
    if deps.webhooks is not None:
        # A job the reaper fails is as final as one the consumer fails: its
        # receiver is told the same way (at most once: the notifier marks it).
        for record in repaired:
            if record.status is JobStatus.FAILED and record.webhook_url:
                budget.take("send")  # the webhook message
                budget.take("rpc")  # marking it enqueued on the job
                await deps.webhooks.job_finished(record)


def _count(report: ReaperReport, actions: list[str]) -> None:
    report.resent_jobs += actions.count("resend")
    report.requeued_jobs += actions.count("requeue")
    report.failed_jobs += actions.count("fail")
