"""synth_consumer Worker: consumes ``tts-jobs`` (and its dead-letter queue) and ``tts-webhooks``."""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from cloudflare_adapters.queues import batch_messages, settle
from cloudflare_adapters.wiring_synth_consumer import consumer_dependencies
from shared.bootstrap import queue_batch
from shared.dependencies import Dependencies


class Default(WorkerEntrypoint):
    _deps: Dependencies | None = None

    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        deps = self._deps
        if deps is None:  # once per isolate (no I/O object is kept in it)
            deps = type(self)._deps = consumer_dependencies(self.env)
        queue_name, pairs = batch_messages(batch)
        # Routed by the queue's name (shared/bootstrap.py): webhooks, dead letters or jobs.
        settle(pairs, await queue_batch(deps, queue_name, [m for _, m in pairs]))
