"""api Worker: HTTP API, and host of the ``TtsJobDurableObject`` shards."""

from __future__ import annotations

import time
from typing import Any

from workers import DurableObject, WorkerEntrypoint

from cloudflare_adapters.convert import from_js_value, to_js_value
from cloudflare_adapters.durable_objects import DurableObjectSql, add_rpc_methods
from cloudflare_adapters.http import to_http_request, to_js_response
from cloudflare_adapters.wiring import settings
from cloudflare_adapters.wiring_api import api_pipeline
from shared.api.errors import ApiError
from shared.jobs.rpc import RPC_METHODS, ShardService
from shared.jobs.shard import JobShard


class TtsJobDurableObject(DurableObject):
    """One job shard. Its RPC methods (one payload object each) come from ``RPC_METHODS``, below."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        waiters = settings(env).max_waiters_per_shard
        self._service = ShardService(JobShard(DurableObjectSql(ctx.storage), time.time), waiters)

    async def _handle(self, method: str, payload: Any) -> Any:
        # waitForChange stays open here until its job changes; the other calls
        # run at once (one synchronous transaction each).
        return to_js_value(await self._service.handle_async(method, from_js_value(payload)))


# The RPC methods, one per entry of shared/jobs/rpc.py OPERATIONS (create, get, claim, ...).
add_rpc_methods(TtsJobDurableObject, RPC_METHODS)


class Default(WorkerEntrypoint):
    _app = None

    async def fetch(self, request: Any) -> Any:
        if self._app is None:  # once per isolate (no I/O object is kept in it)
            type(self)._app = api_pipeline(self.env).api
        try:
            incoming = await to_http_request(request, max_body_bytes=self._app.max_body_bytes)
        except ApiError as exc:  # 413 before the body is read
            return to_js_response(exc.to_response())
        return to_js_response(await self._app.handle(incoming))
