"""The one bootstrap: what it decides from a runtime's ports (shared/bootstrap.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import replace

import pytest

from shared.bootstrap import Pipeline, RuntimePorts
from shared.config import Settings
from shared.ports import HttpClientResponse, IncomingMessage
from shared.security.ratelimit import RateLimitDecision, RateLimiter
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.providers import build_catalogue
from tests.fakes import FakeClock, MemoryBucket, MemoryQueue, MemoryShards


class MadeLimiter:
    """A limiter that only records what it was made with (never asked here)."""

    def __init__(self, allowed: int, period: int) -> None:
        self.allowed, self.period = allowed, period

    async def limit(self, key: str) -> RateLimitDecision:
        raise AssertionError("not called")


class NoHttp:
    async def request(
        self, method: str, url: str, *, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> HttpClientResponse:
        raise AssertionError("a poison message is never delivered")


def ports(settings: Settings | None = None, **overrides: object) -> RuntimePorts:
    clock = FakeClock()
    settings = settings or Settings()
    built: list[Catalogue] = []

    def catalogue() -> Catalogue:
        built.append(build_catalogue(settings, http=None))
        return built[-1]

    base = RuntimePorts(
        settings=settings,
        jobs=MemoryShards(clock).client,
        bucket=MemoryBucket(clock),
        jobs_queue=MemoryQueue(),
        clock=clock,
        catalogue=catalogue,
        log_stream=io.StringIO(),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def events(pipeline: Pipeline) -> list[str]:
    stream = pipeline.ports.log_stream
    assert isinstance(stream, io.StringIO)
    return [json.loads(line)["event"] for line in stream.getvalue().splitlines()]


def test_rate_limiting_is_on_when_the_runtime_has_a_limiter_and_the_limit_is_not_zero() -> None:
    made: list[MadeLimiter] = []

    def factory(limit: int, period: int) -> RateLimiter:
        made.append(MadeLimiter(limit, period))
        return made[-1]

    on = Pipeline(ports(Settings.from_env({"JOB_RATE_LIMIT": "7/10"}), rate_limiter=factory))
    assert on.api.deps.rate_limiter is made[0] and (made[0].allowed, made[0].period) == (7, 10)
    assert Pipeline(ports(Settings.from_env({"JOB_RATE_LIMIT": "0"}), rate_limiter=factory)).api.deps.rate_limiter is None
    assert Pipeline(ports()).api.deps.rate_limiter is None  # no limiter bound


def test_each_part_is_made_once_and_shares_one_catalogue() -> None:
    pipeline = Pipeline(ports())
    assert pipeline.api is pipeline.api and pipeline.consumer is pipeline.consumer
    assert pipeline.api.deps.catalogue is pipeline.catalogue
    assert pipeline.consumer.model_spec == pipeline.catalogue.get


def test_chunk_tasks_go_to_the_chunk_queue_when_one_is_bound() -> None:
    jobs, chunks = MemoryQueue(), MemoryQueue()
    assert Pipeline(ports(jobs_queue=jobs)).consumer.chunk_queue is None  # then they go to the jobs queue
    pipeline = Pipeline(ports(jobs_queue=jobs, chunk_queue=chunks))
    consumer = pipeline.consumer
    assert consumer.queue is jobs and consumer.chunk_queue is chunks and not consumer.on_chunk_queue
    # The chunk queue's batches plan long jobs; the same dependencies otherwise (one speed book).
    assert pipeline.chunk_consumer.on_chunk_queue and pipeline.chunk_consumer.speeds is consumer.speeds


def test_finished_jobs_are_announced_only_when_a_webhook_queue_is_bound() -> None:
    assert Pipeline(ports()).consumer.webhooks is None and Pipeline(ports()).reaper.webhooks is None
    bound = Pipeline(ports(webhook_queue=MemoryQueue()))
    assert bound.consumer.webhooks is not None and bound.reaper.webhooks is bound.consumer.webhooks


@pytest.mark.parametrize(
    ("queue", "event"),
    [
        ("tts-jobs", "poison_message"),
        ("tts-chunks", "poison_message"),  # a long job's chunk tasks: the jobs queue's handler
        ("tts-jobs-staging", "poison_message"),
        ("tts-jobs-dlq", "poison_dead_letter"),
        ("tts-webhooks", "poison_webhook_message"),
    ],
)
async def test_a_batch_goes_to_the_handler_of_its_queue(queue: str, event: str) -> None:
    pipeline = Pipeline(ports(webhook_http=NoHttp()))
    outcome = await pipeline.queue_batch(queue, [IncomingMessage("m1", {"not": "a message"}, 1)])
    assert outcome.acked() == ["m1"]  # a poison message is acked, never retried
    assert event in events(pipeline)


def test_a_part_whose_port_is_missing_says_so() -> None:
    with pytest.raises(RuntimeError, match="webhook deliveries"):
        Pipeline(ports()).webhooks
    with pytest.raises(RuntimeError, match="catalogue"):
        Pipeline(ports(catalogue=None)).api


class NoUploads:
    async def put(self, url: str, *, headers: Mapping[str, str], body: object, length: int, timeout: float) -> int:
        raise AssertionError("a poison message is never delivered")


async def test_the_webhook_queue_routes_deliveries_by_their_kind() -> None:
    pipeline = Pipeline(ports(webhook_http=NoHttp(), delivery_uploader=NoUploads()))
    batch = [
        IncomingMessage("hook", {"kind": "webhook", "not": "a message"}, 1),
        IncomingMessage("put", {"kind": "delivery", "jobId": "nope"}, 1),
    ]
    outcome = await pipeline.queue_batch("tts-webhooks", batch)
    assert sorted(outcome.acked()) == ["hook", "put"]
    assert {"poison_webhook_message", "poison_delivery_message"} <= set(events(pipeline))
    with pytest.raises(RuntimeError, match="uploader for deliveries"):
        Pipeline(ports()).delivery
