"""Fixtures the consumer tests share: a fake clock, in-memory shards on it, a scripted synthesizer."""

from __future__ import annotations

import pytest

from tests.fakes import FakeClock, MemoryShards, ScriptedSynthesizer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def shards(clock: FakeClock) -> MemoryShards:
    return MemoryShards(clock)


@pytest.fixture
def synth() -> ScriptedSynthesizer:
    return ScriptedSynthesizer()
