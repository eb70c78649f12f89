"""api Worker: HTTP API, and host of the ``TtsJobDurableObject`` shards."""

from __future__ import annotations

import time
from typing import Any

from workers import DurableObject, WorkerEntrypoint

from cloudflare_adapters.convert import from_js_value, to_js_value
from cloudflare_adapters.durable_objects import DurableObjectSql
from cloudflare_adapters.http import to_http_request, to_js_response
from cloudflare_adapters.wiring_api import api_app
from shared.api.errors import ApiError
from shared.jobs.rpc import ShardService
from shared.jobs.shard import JobShard


class TtsJobDurableObject(DurableObject):
    """One job shard. Each public method is an RPC method taking one payload object."""

    def __init__(self, ctx: Any, env: Any) -> None:
        super().__init__(ctx, env)
        self._service = ShardService(JobShard(DurableObjectSql(ctx.storage), time.time))

    def _handle(self, method: str, payload: Any) -> Any:
        return to_js_value(self._service.handle(method, from_js_value(payload)))

    async def create(self, payload: Any) -> Any:
        return self._handle("create", payload)

    async def get(self, payload: Any) -> Any:
        return self._handle("get", payload)

    async def claim(self, payload: Any) -> Any:
        return self._handle("claim", payload)

    async def complete(self, payload: Any) -> Any:
        return self._handle("complete", payload)

    async def release(self, payload: Any) -> Any:
        return self._handle("release", payload)

    async def fail(self, payload: Any) -> Any:
        return self._handle("fail", payload)

    async def cancel(self, payload: Any) -> Any:
        return self._handle("cancel", payload)

    async def delete(self, payload: Any) -> Any:
        return self._handle("delete", payload)

    async def list(self, payload: Any) -> Any:
        return self._handle("list", payload)

    async def countActive(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("countActive", payload)

    async def expired(self, payload: Any) -> Any:
        return self._handle("expired", payload)

    async def stale(self, payload: Any) -> Any:
        return self._handle("stale", payload)

    async def lookup(self, payload: Any) -> Any:
        return self._handle("lookup", payload)

    async def progress(self, payload: Any) -> Any:
        return self._handle("progress", payload)

    async def renewLease(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("renewLease", payload)

    async def findIdempotent(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("findIdempotent", payload)

    async def markWebhook(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("markWebhook", payload)

    async def recordWebhook(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("recordWebhook", payload)

    async def repair(self, payload: Any) -> Any:
        return self._handle("repair", payload)

    async def reaperLease(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("reaperLease", payload)

    async def reaperSave(self, payload: Any) -> Any:  # noqa: N802 - RPC name
        return self._handle("reaperSave", payload)


class Default(WorkerEntrypoint):
    _app = None

    async def fetch(self, request: Any) -> Any:
        if self._app is None:
            type(self)._app = api_app(self.env)
        try:
            incoming = await to_http_request(request, max_body_bytes=self._app.max_body_bytes)
        except ApiError as exc:  # 413 before the body is read
            return to_js_response(exc.to_response())
        return to_js_response(await self._app.handle(incoming))
