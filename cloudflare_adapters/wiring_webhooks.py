"""The webhook queue of the Workers that announce finished jobs (synth_consumer, reaper)."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.queues import QueueProducerAdapter


def webhook_queue(env: Any) -> QueueProducerAdapter | None:
    """``TTS_WEBHOOKS`` (a queue producer binding), when the Worker has it."""
    binding = getattr(raw_binding(env), "TTS_WEBHOOKS", None)
    return QueueProducerAdapter(binding) if binding is not None else None
