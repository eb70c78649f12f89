"""Polling delays: growth, cap and jitter bounds."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tts_client import Backoff


def take(backoff: Backoff, n: int) -> list[float]:
    return list(itertools.islice(backoff.delays(), n))


def test_without_jitter_luck_delays_grow_by_the_factor_up_to_the_cap() -> None:
    # random() == 1.0 gives the top of each [d/2, d] window: d itself.
    delays = take(Backoff(initial=1, factor=2, max_delay=5, random=lambda: 1.0), 6)
    assert delays == [1, 2, 4, 5, 5, 5]


def test_jitter_keeps_each_delay_within_half_to_full_ceiling() -> None:
    lows = take(Backoff(initial=1, factor=2, max_delay=5, random=lambda: 0.0), 4)
    assert lows == [0.5, 1, 2, 2.5]


def test_default_delays_stay_positive_and_capped() -> None:
    backoff = Backoff()
    delays = take(backoff, 50)
    assert all(0 < d <= backoff.max_delay for d in delays)


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"initial": 2, "max_delay": 1}, {"factor": 0.5}])
def test_nonsense_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)
