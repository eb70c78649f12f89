"""reaper Worker: the cron-triggered backstop to the R2 lifecycle rule."""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from cloudflare_adapters.wiring_reaper import reaper_dependencies
from shared.bootstrap import cron_run


class Default(WorkerEntrypoint):
    async def scheduled(self, controller: Any, env: Any = None, ctx: Any = None) -> None:
        # Failures are in the run's JSON summary (`errors`); raising would only
        # add a retry of a run whose work the next cron run picks up anyway.
        await cron_run(reaper_dependencies(self.env))
