"""The operation meter (local_runtime.bindings.meter)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from local_runtime.bindings.meter import METERED, Meter, SharedMeter


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


def test_a_shared_meter_sums_what_every_process_counted(tmp_path: Path) -> None:
    path = tmp_path / "meter"
    supervisor = SharedMeter.create(path, rows=3)
    api = SharedMeter(path, 1, 3)
    supervisor.add("do.rows_written", 3)
    api.add("do.requests", 2)
    # Another process: it maps the same file and counts in its own row.
    code = (
        "import sys; from local_runtime.bindings.meter import SharedMeter;"
        f"m = SharedMeter({str(path)!r}, 2, 3); m.add('do.requests', 5); m.add('queue.read'); m.close()"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    expected = {"do.rows_written": 3, "do.requests": 7, "queue.read": 1}
    assert supervisor.snapshot() == expected and api.snapshot() == expected
    assert api.get("do.requests") == 7
    api.add("not.a.binding")  # a name no binding counts stays in its own process
    assert api.get("not.a.binding") == 1 and supervisor.get("not.a.binding") == 0
    supervisor.reset()
    assert api.snapshot() == {"not.a.binding": 1}
    with pytest.raises(ValueError):
        api.add("do.requests", -1)
    with pytest.raises(ValueError):
        SharedMeter(path, 3, 3)
    api.close()
    supervisor.close()


def test_every_count_a_binding_makes_has_a_column_in_the_shared_meter() -> None:
    import local_runtime.bindings.meter as module

    names = {v for k, v in vars(module).items() if k.isupper() and isinstance(v, str)}
    assert names == set(METERED)
