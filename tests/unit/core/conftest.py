"""The consumer tests' scripted synthesizer (the clock and shards: tests/unit/conftest.py)."""

from __future__ import annotations

import pytest

from tests.fakes import ScriptedSynthesizer


@pytest.fixture
def synth() -> ScriptedSynthesizer:
    return ScriptedSynthesizer()
