"""The benchmark command still runs end to end (tiny sizes). No timing is asserted:
benchmarks are numbers for docs/benchmarks.md, never pass/fail criteria."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.slow


def test_bench_smoke_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    raw = tmp_path / "raw.json"

    assert main(["--smoke", "--out", str(out), "--json", str(raw)]) == 0

    report = out.read_text()
    assert report.startswith("# Benchmarks")
    assert "python -m bench --smoke" in report
    for section in ("## Throughput and latency", "## Billable operations per job", "## Memory and CPU"):
        assert section in report
    assert raw.stat().st_size > 0
