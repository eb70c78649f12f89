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


def test_captions_bench_smoke_prints_its_section(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.captions import BEGIN, END
    from bench.captions import main as captions_main

    assert captions_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(BEGIN) and printed.rstrip().endswith(END) and "## Word timings and captions" in printed


def test_the_full_report_keeps_the_captions_section(tmp_path: Path) -> None:
    from bench.__main__ import _kept_sections
    from bench.captions import BEGIN, END, write_section

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold tables\n")
    write_section(f"{BEGIN}\n## Word timings and captions\nnumbers\n{END}", doc)
    assert _kept_sections(doc) == f"{BEGIN}\n## Word timings and captions\nnumbers\n{END}"
