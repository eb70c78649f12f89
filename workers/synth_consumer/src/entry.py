"""synth_consumer Worker: consumes ``tts-jobs`` (and its dead-letter queue)."""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from cloudflare_adapters.queues import batch_messages, settle
from cloudflare_adapters.wiring import consumer_deps
from shared.consumer import process_batch, process_dead_letters

DEAD_LETTER_SUFFIX = "-dlq"


class Default(WorkerEntrypoint):
    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        deps = consumer_deps(self.env)
        queue_name, pairs = batch_messages(batch)
        messages = [m for _, m in pairs]
        if queue_name.endswith(DEAD_LETTER_SUFFIX):
            outcome = await process_dead_letters(messages, deps)
        else:
            outcome = await process_batch(messages, deps)
        settle(pairs, outcome)
