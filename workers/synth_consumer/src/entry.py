"""synth_consumer Worker: consumes ``tts-jobs`` (and its dead-letter queue) and ``tts-webhooks``."""

from __future__ import annotations

from typing import Any

from workers import WorkerEntrypoint

from cloudflare_adapters.queues import batch_messages, settle
from cloudflare_adapters.wiring_synth_consumer import consumer_deps
from cloudflare_adapters.wiring_webhooks import webhook_deps
from shared.consumer import process_batch, process_dead_letters
from shared.webhooks import process_webhook_batch

DEAD_LETTER_SUFFIX = "-dlq"
WEBHOOK_QUEUE_MARK = "webhooks"  # tts-webhooks: deliveries, not synthesis


class Default(WorkerEntrypoint):
    async def queue(self, batch: Any, env: Any = None, ctx: Any = None) -> None:
        queue_name, pairs = batch_messages(batch)
        messages = [m for _, m in pairs]
        if WEBHOOK_QUEUE_MARK in queue_name:
            outcome = await process_webhook_batch(messages, webhook_deps(self.env))
        elif queue_name.endswith(DEAD_LETTER_SUFFIX):
            outcome = await process_dead_letters(messages, consumer_deps(self.env))
        else:
            outcome = await process_batch(messages, consumer_deps(self.env))
        settle(pairs, outcome)
