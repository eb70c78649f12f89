"""The operation meter (local_runtime.bindings.meter)."""

from __future__ import annotations

import threading

import pytest

from local_runtime.bindings.meter import Meter


def test_counts_snapshot_and_reset() -> None:
    meter = Meter()
    meter.add("r2.class_a")
    meter.add("r2.class_a", 2)
    meter.add("queue.read", 0)
    snapshot = meter.snapshot()
    assert snapshot == {"r2.class_a": 3, "queue.read": 0}
    meter.add("r2.class_a")
    assert snapshot["r2.class_a"] == 3  # a snapshot is a copy
    assert meter.get("r2.class_a") == 4
    assert meter.get("never") == 0
    meter.reset()
    assert meter.snapshot() == {}


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        Meter().add("x", -1)


def test_counting_from_many_threads_loses_nothing() -> None:
    meter = Meter()

    def work() -> None:
        for _ in range(10_000):
            meter.add("do.requests")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.get("do.requests") == 80_000

