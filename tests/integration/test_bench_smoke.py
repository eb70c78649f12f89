"""The benchmark command still runs end to end, every phase at tiny sizes. No timing is
asserted: benchmarks are numbers for docs/benchmarks.md, never pass/fail criteria."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main

pytestmark = pytest.mark.slow

PHASES = ("lone", "throughput", "synthesis_cpu", "closed_loop", "open_loop", "history", "ops", "memory", "reaper")


def test_bench_smoke_runs_every_phase_and_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    raw = tmp_path / "raw.json"

    assert main(["--smoke", "--out", str(out), "--json", str(raw)]) == 0

    report = out.read_text()
    assert report.startswith("# Benchmarks")
    assert "python -m bench --smoke" in report
    for section in ("## Issue 30's goals", "## A lone short job, by every path", "## Against a plain self-hosted",
                    "## Throughput and latency", "## Open loop", "## One job at a time",
                    "## Submitting for a tenant with a long history", "## Billable operations per job",
                    "## Memory and CPU", "## The reaper at scale"):
        assert section in report
    results = json.loads(raw.read_text())["current"]
    assert set(PHASES) <= set(results["timings"])
    # Each client count has its floor at the same concurrency, and every job completed.
    assert [f["concurrency"] for f in results["floors"]] == [r["clients"] for r in results["throughput"]]
    assert all(r["errors"] == 0 for r in results["throughput"] + results["open_loop"] + results["plain"])
    # A lone job went through every path on both rules (before: QUEUE_WAIT_WHEN_IDLE=1), and the plain baseline
    # ran at the most clients.
    for rule in ("before", "after"):
        assert all(len(results["lone"]["ms"][rule][path]) == 2 for path in ("prefer", "wait", "events", "speech"))
    assert [p["clients"] for p in results["plain"]] == [max(r["clients"] for r in results["throughput"])]
    # The memory phase measures /audio at every size and shows /result's 413 over its cap.
    statuses = [m["phases"]["/result"]["status"] for m in results["memory"]]
    assert statuses == [200, 413]
    assert all(m["phases"]["/audio"]["status"] == 200 for m in results["memory"])
    # A job costs at most 5 Durable Object requests with one poll and one download, and 3 rows written:
    # its insert, claim and completion (its queue message's outbox state is a column of its row, set by
    # the insert and cleared by the claim: shared/jobs/outbox.py).
    phases = results["ops"]["phases"]
    requests = sum(phases[p].get("do.requests", 0) for p in ("submit", "process", "status poll", "download /audio"))
    assert requests <= 5
    assert phases["submit"].get("do.rows_written", 0) + phases["process"].get("do.rows_written", 0) <= 3
    assert results["reaper"]["judged"] > 0


def test_captions_bench_smoke_prints_its_section(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.captions import BEGIN, END
    from bench.captions import main as captions_main

    assert captions_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(BEGIN) and printed.rstrip().endswith(END) and "## Word timings and captions" in printed


def test_pronunciation_bench_smoke_prints_its_section(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.pronunciation import BEGIN, END
    from bench.pronunciation import main as pronunciation_main

    assert pronunciation_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(BEGIN) and printed.rstrip().endswith(END) and "## Pronunciation" in printed
    assert "| render SSML" in printed and "`xml.parsers.expat" in printed


def test_the_full_report_keeps_the_captions_section(tmp_path: Path) -> None:
    from bench.__main__ import _kept_sections
    from bench.captions import BEGIN, END, write_section

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold tables\n")
    write_section(f"{BEGIN}\n## Word timings and captions\nnumbers\n{END}", doc)
    assert _kept_sections(doc) == f"{BEGIN}\n## Word timings and captions\nnumbers\n{END}"


def test_the_full_report_keeps_every_section_other_commands_write(tmp_path: Path) -> None:
    from bench import sections
    from bench.__main__ import _kept_sections

    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nold tables\n")
    for name in sections.SECTIONS:
        begin, end = sections.markers(name)
        sections.write_section(name, f"{begin}\n## {name}\nnumbers\n{end}", doc)
    sections.write_section("speech", "<!-- speech:begin -->\n## speech\nnew\n<!-- speech:end -->", doc)
    kept = _kept_sections(doc)
    assert [n for n in sections.SECTIONS if f"## {n}\n" in kept] == list(sections.SECTIONS)
    assert "## speech\nnew\n" in kept and kept.count("<!-- speech:begin -->") == 1


def test_the_inputs_benchmark_runs_and_writes_nothing_when_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.inputs import main as inputs_main
    from bench.sections import markers

    before = (Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md").read_text()
    assert inputs_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    begin, end = markers("inputs")
    assert printed.startswith(begin) and end in printed and "| 3 inputs | 3 |" in printed
    assert (Path(__file__).resolve().parents[2] / "docs" / "benchmarks.md").read_text() == before


def test_delivery_bench_smoke_prints_its_section(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.delivery import BEGIN, END
    from bench.delivery import main as delivery_main

    assert delivery_main(["--smoke"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(BEGIN) and printed.rstrip().endswith(END)
    assert "## Delivery to a customer's bucket" in printed
