"""The run's lease: one reaper run at a time does the work.

The lease (and the sweep's saved state) lives in the ``reaper_state`` table
of shard 0, next to the jobs: no extra binding on either runtime, and
taking it is one compare-and-set transaction. It runs out on its own
``reaper_max_seconds`` + a minute after it was last renewed, so a run that
was killed leaves nothing behind for longer than that. A dry run takes no
lease (it writes nothing); it only reads the saved state.
"""

from __future__ import annotations

from typing import Any

from shared.dependencies import Dependencies
from shared.jobs.reaper_state import ReaperLease, ReaperSave
from shared.jobs.sharding import shard_name
from shared.reaper.budget import Budget
from shared.reaper.errors import ReaperLeaseLostError

LEASE_NAME = "reaper"
LEASE_SHARD = shard_name(0)
LEASE_MARGIN_SECONDS = 60.0


class RunLease:
    def __init__(self, deps: Dependencies, run_id: str, budget: Budget, *, dry_run: bool) -> None:
        self._deps = deps
        self._run_id = run_id
        self._budget = budget
        self._dry_run = dry_run
        self._seconds = deps.settings.reaper_max_seconds + LEASE_MARGIN_SECONDS
        self.held = False

    async def acquire(self) -> dict[str, Any] | None:
        """The saved state if this run may work, None if another run holds the lease."""
        now = self._deps.clock()
        self._budget.take("rpc")
        reply = await self._deps.jobs.call(
            ReaperLease(name=LEASE_NAME, holder=self._run_id, now=now, until=now + self._seconds, peek=self._dry_run),
            shard=LEASE_SHARD,
        )
        state = dict(reply.get("state") or {})
        if self._dry_run:
            return state
        if not reply.get("acquired"):
            return None
        self.held = True
        return state

    async def checkpoint(self, state: dict[str, Any] | None = None) -> None:
        """Renew the lease (saving ``state`` if given); raises if another run took it."""
        if self._dry_run or not self.held:
            return
        self._budget.take("rpc")
        now = self._deps.clock()
        if not await self._deps.jobs.call(
            ReaperSave(name=LEASE_NAME, holder=self._run_id, until=now + self._seconds, state=state),
            shard=LEASE_SHARD,
        ):
            self.held = False
            raise ReaperLeaseLostError(f"run {self._run_id} lost the reaper lease to another run")

    async def release(self, state: dict[str, Any] | None = None) -> None:
        if self._dry_run or not self.held:
            return
        self.held = False
        self._budget.take("rpc")
        await self._deps.jobs.call(
            ReaperSave(name=LEASE_NAME, holder=self._run_id, until=0.0, state=state),
            shard=LEASE_SHARD,
        )
