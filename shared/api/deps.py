"""What the HTTP API needs from its runtime: ``ApiDeps``, built by a wiring root (both runtimes)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from shared.config import Settings
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.ports import BlobStore, Clock, QueueProducer
from shared.security.ratelimit import RateLimiter
from shared.synthesis.catalogue import Resolved


class CataloguePort(Protocol):
    """What the API needs of ``shared.synthesis.Catalogue``."""

    def validate(
        self,
        model: str | None,
        voice: str | None = None,
        format: str | None = None,
        *,
        sample_rate: int | None = None,
        text: str | None = None,
        speed: float | None = None,
        instructions: str | None = None,
        timestamps: str | None = None,
        require_provider: bool = False,
    ) -> Resolved: ...

    def public_models(self) -> list[dict[str, Any]]: ...

    @property
    def default_model(self) -> str | None: ...


@dataclass
class ApiDeps:
    settings: Settings
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer
    catalogue: CataloguePort
    clock: Clock
    new_job_id: Callable[[], str]
    log: JsonLogger
    # Counts for the runtime's meter, by name (the local runtime's /__meter); None on Cloudflare.
    meter: Callable[[str, int], None] | None = None
    rate_limiter: RateLimiter | None = None  # per-tenant job creation limit (shared/security/ratelimit.py)
    # What the runtime knows is failing now (its background loops): GET /healthz answers 503 while
    # it names anything. None: nothing to report (Cloudflare runs no loops of ours).
    health: Callable[[], list[dict[str, Any]]] | None = None
