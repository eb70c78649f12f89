"""api Worker: HTTP API, and host of the ``TtsJobDurableObject`` shards."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from workers import DurableObject, WorkerEntrypoint

from cloudflare_adapters.convert import from_js_value, to_js_value
from cloudflare_adapters.durable_objects import DurableObjectAlarm, DurableObjectSql, add_rpc_methods
from cloudflare_adapters.http import to_http_request, to_js_response
from cloudflare_adapters.queues import QueueProducerAdapter
from cloudflare_adapters.wiring import settings
from cloudflare_adapters.wiring_api import api_dependencies
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.api.errors import ApiError
from shared.bootstrap import api_app
from shared.jobs.outbox import JOBS, WEBHOOKS
from shared.jobs.rpc import RPC_METHODS, ShardService
from shared.jobs.shard import JobShard
from shared.logs import JsonLogger

if TYPE_CHECKING:
    from shared.api.app import ApiApp
    from shared.ports import QueueProducer


class TtsJobDurableObject(DurableObject):
    """One job shard. Its RPC methods (one payload object each) come from ``RPC_METHODS``, below;
    ``alarm`` sends the queue messages its outbox still holds (shared/jobs/outbox.py)."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        config = settings(env)
        shard = JobShard(DurableObjectSql(ctx.storage), time.time, shard_count=config.shard_count)
        producers: dict[str, QueueProducer] = {JOBS: QueueProducerAdapter(env.TTS_JOBS)}
        webhooks = webhook_queue(env)
        if webhooks is not None:
            producers[WEBHOOKS] = webhooks
        self._service = ShardService(
            shard,
            config.max_waiters_per_shard,
            producers=producers,
            alarm=DurableObjectAlarm(ctx.storage),
            log=JsonLogger("shard"),
        )

    async def _handle(self, method: str, payload: Any) -> Any:
        # waitForChange stays open here until its job changes; the other calls
        # run at once (one synchronous transaction each, then the messages it recorded are sent).
        return to_js_value(await self._service.handle_async(method, from_js_value(payload)))

    async def alarm(self, alarm_info: Any = None) -> None:
        await self._service.alarm()


# The RPC methods, one per operation of shared/jobs/rpc_payloads.py OPERATIONS (create, get, claim, ...).
add_rpc_methods(TtsJobDurableObject, RPC_METHODS)


class Default(WorkerEntrypoint):
    _app: ApiApp | None = None

    async def fetch(self, request: Any) -> Any:
        app = self._app
        if app is None:  # once per isolate (no I/O object is kept in it)
            app = type(self)._app = api_app(api_dependencies(self.env))
        try:
            incoming = await to_http_request(request, max_body_bytes=app.max_body_bytes)
        except ApiError as exc:  # 413 before the body is read
            return to_js_response(exc.to_response())
        return to_js_response(await app.handle(incoming))
