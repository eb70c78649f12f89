"""synth_consumer Worker: consumes ``tts-jobs`` (and its dead-letter queue) and ``tts-webhooks``."""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from cloudflare_adapters.queues import batch_messages, settle
from cloudflare_adapters.wiring_synth_consumer import consumer_pipeline
from shared.bootstrap import Pipeline


class Default(WorkerEntrypoint):
    _pipeline: Pipeline | None = None

    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        if self._pipeline is None:  # once per isolate (no I/O object is kept in it)
            type(self)._pipeline = consumer_pipeline(self.env)
        assert self._pipeline is not None
        queue_name, pairs = batch_messages(batch)
        # Routed by the queue's name (shared/bootstrap.py): webhooks, dead letters or jobs.
        settle(pairs, await self._pipeline.queue_batch(queue_name, [m for _, m in pairs]))
