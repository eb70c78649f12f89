"""The one dependency object, ``Dependencies``: everything the pipeline's code is given by its runtime.

The bootstrap (shared/bootstrap.py) builds it from a runtime's ports, once per
Worker isolate (or once per local runtime); the api, the synth consumer's
handlers (jobs, dead letters, webhooks, deliveries) and the reaper each take
it, under the name of the Worker they run as (``acting_as``). Tests get one
from ``tests.fakes.bootstrap_test_app`` and never build it themselves.

Every role uses the first six fields. The others belong to some roles and
are None where a runtime's role has none, so each Worker builds only what it
runs; the model catalogue is made on first use, once:

==============  ===================================================
role            its own parts
==============  ===================================================
api             catalogue, rate_limiter, new_job_id, health
synth_consumer  catalogue, chunk_queue, webhooks, http, uploader, host_allowed, speeds
reaper          webhooks
==============  ===================================================

No clock, randomness or I/O happens when one is built or when this module is imported.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from shared.config import Settings
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.ports import BlobStore, Clock, HostCheck, HttpClient, QueueProducer, StreamUploader, Synthesizer
from shared.synthesis.budget import SpeedBook

if TYPE_CHECKING:
    from shared.models import JobRecord
    from shared.security.ratelimit import RateLimiter
    from shared.synthesis.catalogue import Catalogue, ModelSpec


class Announcer(Protocol):
    """Announces a job that reached a final state to its webhook (``shared.webhooks.WebhookNotifier``)."""

    async def job_finished(self, record: JobRecord) -> None: ...


def new_job_id() -> str:
    return uuid.uuid4().hex


@dataclass(eq=False)
class Dependencies:
    settings: Settings
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer  # tts-jobs
    clock: Clock
    log: JsonLogger  # writes as the Worker this object acts as (``acting_as``)
    # Makes the model catalogue (api, synth_consumer); the bootstrap makes it run once. None: no catalogue.
    make_catalogue: Callable[[], Catalogue] | None = field(default=None, repr=False)
    # synth_consumer, reaper: announces finished jobs (None: no webhook queue bound).
    webhooks: Announcer | None = None
    # synth_consumer, on tts-webhooks: webhook POSTs go out through ``http``, deliveries to
    # customers' buckets through ``uploader``; ``host_allowed`` re-checks DNS first where DNS exists.
    http: HttpClient | None = None
    uploader: StreamUploader | None = None
    host_allowed: HostCheck | None = None
    # api: the per-tenant job creation limit (shared/security/ratelimit.py); None: off or not bound.
    rate_limiter: RateLimiter | None = None
    new_job_id: Callable[[], str] = new_job_id  # api: ids of new jobs
    # api: what the runtime knows is failing now (its background loops): GET /healthz answers 503
    # while it names anything. None: nothing to report (Cloudflare runs no loops of ours).
    health: Callable[[], list[dict[str, Any]]] | None = None
    # Counts for the runtime's meter, by name (the local runtime's /__meter); None on Cloudflare.
    meter: Callable[[str, int], None] | None = None
    # synth_consumer: characters per second each model was seen to make, in this isolate.
    speeds: SpeedBook = field(default_factory=SpeedBook)
    # synth_consumer: tts-chunks, where a long job's plan, chunk tasks and assembly go (None: all on
    # ``queue``; shared/fanout.py), and whether this batch is the chunk queue's (a long job met on the
    # jobs queue is handed over to it; shared/bootstrap.py sets it per batch).
    chunk_queue: QueueProducer | None = None
    on_chunk_queue: bool = False

    @property
    def catalogue(self) -> Catalogue:
        if self.make_catalogue is None:
            raise RuntimeError("this runtime's dependencies carry no model catalogue")
        return self.make_catalogue()

    def synthesizer_for(self, model: str) -> Synthesizer:
        return self.catalogue.synthesizer_for(model)

    def model_spec(self, model: str) -> ModelSpec | None:
        """The model's spec: with one, long text is synthesized in chunks (shared/synthesis/longform.py);
        a catalogue that gives none (tests' fakes) makes every job's text one request."""
        return self.catalogue.get(model)

    def acting_as(self, worker: str) -> Dependencies:
        """The same dependencies, logging as ``worker`` (``api``, ``synth_consumer``, ``reaper``)."""
        return self if self.log.worker == worker else replace(self, log=self.log.named(worker))
