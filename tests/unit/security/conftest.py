"""The API in process, over the in-memory fakes: fast enough for property tests."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest

from local_runtime.ratelimit import LocalRateLimiter
from shared.api.app import ApiApp
from shared.bootstrap import api_app
from shared.config import Settings
from shared.dependencies import Dependencies
from shared.http import HttpRequest, HttpResponse
from shared.synthesis.catalogue import default_catalogue
from tests.fakes import FakeClock, MemoryBucket, MemoryQueue, MemoryShards, bootstrap_test_app

ALICE, BOB = "alice-token", "bob-token"
SIGNING_KEY = "k" * 40


def settings(**overrides: Any) -> Settings:
    base = Settings.from_env(
        {"API_TOKENS": f"alice:{ALICE},bob:{BOB}", "SIGNING_KEY": SIGNING_KEY, "SHARD_COUNT": "3"}
    )
    return replace(base, **overrides)


@dataclass
class Api:
    app: ApiApp
    deps: Dependencies
    shards: MemoryShards
    queue: MemoryQueue
    bucket: MemoryBucket
    clock: FakeClock
    logs: io.StringIO

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        token: str | None = ALICE,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        sent = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent.setdefault("Content-Type", "application/json")
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        request = HttpRequest.build(method, path, headers=sent, body=body or b"", base_url="https://api.test")
        return await self.app.handle(request)

    def jobs(self) -> list[Any]:
        """Every job row in every shard, straight from SQL."""
        rows = []
        for shard in self.shards.shards.values():
            rows += shard._sql.exec("SELECT job_id, tenant, status FROM jobs")
        return rows


def build_api(**overrides: Any) -> Api:
    clock = FakeClock()
    config = settings(**overrides)
    queue, bucket, logs = MemoryQueue(), MemoryBucket(clock), io.StringIO()
    shards = MemoryShards(clock, shard_count=config.shard_count, queue=queue, max_waiters=config.max_waiters_per_shard)
    ids: Callable[[], str] = (f"{n:032x}" for n in itertools.count(1)).__next__
    app = api_app(bootstrap_test_app(
        config, clock=clock, shards=shards, bucket=bucket, queue=queue,
        catalogue=lambda: default_catalogue(False, default_model=config.default_model),
        rate_limiter=lambda limit, period: LocalRateLimiter(limit, period, clock), new_job_id=ids, log_stream=logs,
    ))
    return Api(app, app.deps, shards, queue, bucket, clock, logs)


@pytest.fixture
def api() -> Api:
    return build_api()


def body_of(response: HttpResponse) -> Any:
    return json.loads(response.body)
