"""What the reaper needs from its runtime."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.ports import BlobStore, Clock, QueueProducer

if TYPE_CHECKING:
    from shared.webhooks import WebhookNotifier


@dataclass
class ReaperDeps:
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer
    settings: Settings
    clock: Clock
    log: JsonLogger
    webhooks: WebhookNotifier | None = None  # announces the jobs repair fails
