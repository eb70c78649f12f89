"""Fixtures the unit tests share: a fake clock and in-memory job shards on it."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, MemoryShards


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def shards(clock: FakeClock) -> MemoryShards:
    return MemoryShards(clock)
