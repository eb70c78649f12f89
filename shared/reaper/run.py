"""One reaper run: purge expired jobs, repair stuck ones, sweep orphans.

The run takes the reaper lease first (a second run at the same time finds
it held and does nothing), spends at most its budget (half of it on the
purge, a fifth on repairs, the rest on the sweep; what a phase leaves
unused passes on), and logs one JSON summary. Any step may fail or the
whole run may be killed: every step is idempotent and re-checks the job's
row before acting, so the next run finishes the work.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from shared.dependencies import Dependencies
from shared.reaper.budget import Budget
from shared.reaper.errors import ReaperLeaseLostError
from shared.reaper.lease import RunLease
from shared.reaper.purge import purge_expired
from shared.reaper.repair import repair_stuck
from shared.reaper.report import ReaperReport
from shared.reaper.sweep import sweep_orphans

PURGE_SHARE = 0.5
REPAIR_SHARE = 0.2
RESERVE = 1  # the lease release at the end


async def run_reaper(deps: Dependencies, *, run_id: str | None = None) -> ReaperReport:
    started = time.monotonic()
    s = deps.settings
    report = ReaperReport(run_id=run_id or uuid.uuid4().hex[:16], dry_run=s.reaper_dry_run)
    budget = Budget(s.reaper_max_seconds, s.reaper_max_operations - RESERVE)
    lease = RunLease(deps, report.run_id, budget, dry_run=report.dry_run)
    state: dict[str, Any] | None = None
    try:
        state = await lease.acquire()
        if state is None:
            report.lease_held = True
        else:
            await _phase("purge", purge_expired(deps, report, budget.phase(PURGE_SHARE), lease), report)
            await _phase("repair", repair_stuck(deps, report, budget.phase(REPAIR_SHARE), lease), report)
            await _phase("sweep", sweep_orphans(deps, report, budget.phase(1.0), lease, state), report)
    except ReaperLeaseLostError as exc:
        report.error("lease", exc)
    except Exception as exc:  # the next run finishes what this one could not
        report.error("run", exc)
    finally:
        try:
            await lease.release(state)
        except Exception as exc:  # it runs out on its own
            report.error("release", exc)
    report.calls = dict(budget.calls)
    report.budget_exhausted = budget.ran_out
    report.duration_ms = int((time.monotonic() - started) * 1000)
    deps.log.info("reaper_run", **report.to_json_dict())
    return report


async def _phase(name: str, work: Any, report: ReaperReport) -> None:
    started = time.monotonic()
    try:
        await work
    except ReaperLeaseLostError:
        raise
    except Exception as exc:
        report.error(name, exc)
    finally:
        report.phase_ms[name] = int((time.monotonic() - started) * 1000)
