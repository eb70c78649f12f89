"""The one bootstrap: what it decides from a runtime's ports (shared/bootstrap.py)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping

import pytest

from shared.bootstrap import api_app, cron_run, queue_batch
from shared.config import Settings
from shared.dependencies import Dependencies
from shared.ports import HttpClientResponse, IncomingMessage
from shared.security.ratelimit import RateLimitDecision, RateLimiter
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.providers import build_catalogue
from tests.fakes import MemoryQueue, bootstrap_test_app


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


class NoUploads:
    async def put(self, url: str, *, headers: Mapping[str, str], body: object, length: int, timeout: float) -> int:
        raise AssertionError("a poison message is never delivered")


def deps(settings: Settings | None = None, *, built: list[Catalogue] | None = None, **ports: object) -> Dependencies:
    """Dependencies with the real model catalogue, each one it makes counted in ``built``."""
    config = settings or Settings()
    made = built if built is not None else []

    def catalogue() -> Catalogue:
        made.append(build_catalogue(config, http=None))
        return made[-1]

    return bootstrap_test_app(config, catalogue=catalogue, log_stream=io.StringIO(), **ports)  # type: ignore[arg-type]


def events(deps: Dependencies, worker: str | None = None) -> list[str]:
    stream = deps.log._stream
    assert isinstance(stream, io.StringIO)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line["event"] for line in lines if worker is None or line["worker"] == worker]


def test_rate_limiting_is_on_when_the_runtime_has_a_limiter_and_the_limit_is_not_zero() -> None:
    made: list[MadeLimiter] = []

    def factory(limit: int, period: int) -> RateLimiter:
        made.append(MadeLimiter(limit, period))
        return made[-1]

    on = deps(Settings.from_env({"JOB_RATE_LIMIT": "7/10"}), rate_limiter=factory)
    assert on.rate_limiter is made[0] and (made[0].allowed, made[0].period) == (7, 10)
    assert deps(Settings.from_env({"JOB_RATE_LIMIT": "0"}), rate_limiter=factory).rate_limiter is None
    assert deps().rate_limiter is None  # no limiter bound


def test_the_catalogue_is_made_once_on_first_use_and_shared_by_every_role() -> None:
    built: list[Catalogue] = []
    one = deps(built=built)
    assert built == []  # nothing made until a role needs it
    api = api_app(one)
    assert api.deps.catalogue is one.catalogue is one.acting_as("synth_consumer").catalogue
    assert len(built) == 1 and one.model_spec("tone") == built[0].get("tone")


def test_each_role_logs_as_its_worker_and_shares_the_rest() -> None:
    one = deps()
    consumer = one.acting_as("synth_consumer")
    assert consumer.log.worker == "synth_consumer" and api_app(one).deps.log.worker == "api"
    assert consumer.jobs is one.jobs and consumer.speeds is one.speeds and consumer.acting_as("synth_consumer") is consumer


def test_a_long_jobs_work_has_its_queue_only_when_one_is_bound() -> None:
    assert deps().chunk_queue is None  # then a long job's plan, tasks and assembly go to the jobs queue
    chunks = MemoryQueue()
    one = deps(chunk_queue=chunks)
    assert one.chunk_queue is chunks and not one.on_chunk_queue  # set per batch of the chunk queue


def test_finished_jobs_are_announced_only_when_a_webhook_queue_is_bound() -> None:
    assert deps().webhooks is None
    assert deps(webhook_queue=MemoryQueue()).webhooks is not None


async def test_the_cron_run_logs_as_the_reaper() -> None:
    one = deps()
    await cron_run(one)
    assert "reaper_run" in events(one, worker="reaper")


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
    one = deps(http=NoHttp())
    outcome = await queue_batch(one, queue, [IncomingMessage("m1", {"not": "a message"}, 1)])
    assert outcome.acked() == ["m1"]  # a poison message is acked, never retried
    assert event in events(one, worker="synth_consumer")


async def test_a_part_whose_port_is_missing_says_so() -> None:
    hook = [IncomingMessage("m1", {"kind": "webhook"}, 1)]
    with pytest.raises(RuntimeError, match="webhook deliveries"):
        await queue_batch(deps(), "tts-webhooks", hook)
    with pytest.raises(RuntimeError, match="catalogue"):
        api_app(bootstrap_test_app()).deps.catalogue
    put = [IncomingMessage("m2", {"kind": "delivery", "jobId": "nope"}, 1)]
    with pytest.raises(RuntimeError, match="uploader for deliveries"):
        await queue_batch(deps(http=NoHttp()), "tts-webhooks", put)


async def test_the_webhook_queue_routes_deliveries_by_their_kind() -> None:
    one = deps(http=NoHttp(), uploader=NoUploads())
    batch = [
        IncomingMessage("hook", {"kind": "webhook", "not": "a message"}, 1),
        IncomingMessage("put", {"kind": "delivery", "jobId": "nope"}, 1),
    ]
    outcome = await queue_batch(one, "tts-webhooks", batch)
    assert sorted(outcome.acked()) == ["hook", "put"]
    assert {"poison_webhook_message", "poison_delivery_message"} <= set(events(one))
