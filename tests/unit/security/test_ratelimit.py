from __future__ import annotations

import pytest

from shared.config import Settings
from shared.errors import ConfigError
from shared.security.ratelimit import FixedWindowCounter, RateLimitDecision, job_creation_key
from tests.fakes import FakeClock
from tests.unit.security.conftest import ALICE, BOB, body_of, build_api


def test_fixed_window_allows_limit_per_window_then_says_when_to_retry() -> None:
    clock = FakeClock(1_000_040.0)  # 20 s into a 60 s window
    counter = FixedWindowCounter(3, 60, clock)
    assert [counter.hit("k").allowed for _ in range(4)] == [True, True, True, False]
    assert counter.hit("k") == RateLimitDecision(False, 40)
    assert counter.hit("other").allowed  # keys are independent
    clock.advance(40)  # next window
    assert counter.hit("k").allowed


def test_rate_setting_takes_limit_and_a_period_of_10_or_60() -> None:
    s = Settings.from_env({"JOB_RATE_LIMIT": "5/10"})
    assert (s.job_rate_limit, s.job_rate_period) == (5, 10)
    assert Settings.from_env({"JOB_RATE_LIMIT": "0"}).job_rate_limit == 0
    # Each half defaults on its own: the limit's default never decides the period, nor the reverse.
    assert (Settings().job_rate_limit, Settings().job_rate_period) == (100, 60)
    only_limit = Settings.from_env({"JOB_RATE_LIMIT": "7"})
    assert (only_limit.job_rate_limit, only_limit.job_rate_period) == (7, 60)
    off = Settings.from_env({"JOB_RATE_LIMIT": "0"})
    assert (off.job_rate_limit, off.job_rate_period) == (0, 60)
    for bad in ("5/30", "x/60", "-1/60"):
        with pytest.raises(ConfigError, match="JOB_RATE_LIMIT"):
            Settings.from_env({"JOB_RATE_LIMIT": bad})


async def test_job_creation_over_the_rate_is_429_with_retry_after_per_tenant() -> None:
    api = build_api(job_rate_limit=2, job_rate_period=10)
    api.clock.now = 1_000_003.0
    for _ in range(2):
        assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
    refused = await api.call("POST", "/v1/jobs", json_body={"text": "hi"})
    assert refused.status == 429
    assert refused.headers.get("retry-after") == "7"
    assert body_of(refused)["error"]["code"] == "rate_limited"
    assert len(api.jobs()) == 2 and len(api.queue.sent) == 2  # nothing written for the refusal
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, token=BOB)).status == 202
    assert (await api.call("GET", "/v1/jobs", token=ALICE)).status == 200  # reads are not limited
    api.clock.advance(7)
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202


async def test_jobs_in_flight_are_capped_per_tenant() -> None:
    api = build_api(max_jobs_in_flight=2)
    for _ in range(2):
        assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202
    refused = await api.call("POST", "/v1/jobs", json_body={"text": "hi"})
    assert refused.status == 429 and refused.headers.get("retry-after")
    assert body_of(refused)["error"]["code"] == "too_many_jobs_in_flight"
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"}, token=BOB)).status == 202
    first = api.jobs()[0]["job_id"]
    assert (await api.call("DELETE", f"/v1/jobs/{first}")).status == 204
    assert (await api.call("POST", "/v1/jobs", json_body={"text": "hi"})).status == 202


def test_the_rate_limit_key_is_per_tenant() -> None:
    assert job_creation_key("alice") != job_creation_key("bob")
