"""The report's prose about what was profiled and changed: bench/report_notes.md, with this run's numbers.

Rule: the prose lives in the Markdown file, one ``<!-- part: name -->`` per paragraph; this module only
picks the parts that apply and fills in the measured numbers.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

NOTES = Path(__file__).with_name("report_notes.md")


@cache
def parts() -> dict[str, str]:
    """Each part's text, without the newlines around it (a leading space stays: it continues a paragraph)."""
    pieces = re.split(r"^<!-- part: (.+?) -->\n", NOTES.read_text(), flags=re.MULTILINE)
    return {name: text.strip("\n") for name, text in zip(pieces[1::2], pieces[2::2], strict=True)}


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def optimizations(current: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    text = parts()
    lines = [*text["profile"].split("\n"), ""]
    history_before = baseline.get("history") if baseline else None
    history_after = current.get("history")
    if history_after:
        paragraph = text["history"]
        if history_before:
            paragraph += text["history measured"].format(
                jobs=_n(history_after["history"]),
                p50_before=_n(history_before["submit_latency_ms"]["p50"], 1),
                p50_after=_n(history_after["submit_latency_ms"]["p50"], 1),
                cpu_before=_n(history_before["runtime_cpu_ms_per_job"], 1),
                cpu_after=_n(history_after["runtime_cpu_ms_per_job"], 1),
            )
        lines += [paragraph + text["history billed"], ""]
    memory_after = current.get("memory") or []
    memory_before = (baseline.get("memory") if baseline else None) or []
    paragraph = text["result copies"]
    served_after = [m for m in memory_after if m["phases"]["/result"].get("status", 200) == 200]
    served_before = [m for m in memory_before if m["phases"]["/result"].get("status", 200) == 200]
    if served_after and served_before:
        a, b = served_after[-1], served_before[-1]
        pa, pb = a["phases"]["/result"], b["phases"]["/result"]
        paragraph += text["result copies measured"].format(
            megabytes=_n(a["megabytes"]), copies_before=f"{pb['copies']:.2f}", copies_after=f"{pa['copies']:.2f}",
            rss_before=_n(pb["process_peak_rss_mib"]), rss_after=_n(pa["process_peak_rss_mib"]),
            cpu_before=_n(pb["cpu_ms"]), cpu_after=_n(pa["cpu_ms"]),
        )
    lines += [paragraph, "", text["sql split"], ""]
    lines += _second_round(current, baseline)
    if baseline:
        lines += [text["baseline measured"].format(commit=baseline["machine"]["commit"]), ""]
    lines += [*text["not changed"].split("\n"), ""]
    return lines


def _rate(r: dict[str, Any]) -> float:
    return r["jobs"] / r["end_to_end_seconds"] if r["end_to_end_seconds"] else 0.0


def _second_round(current: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """The second round of changes, measured before/after in this run."""
    text = parts()
    lines = [*text["second round"].split("\n"), ""]
    reaper_after = current.get("reaper")
    reaper_before = baseline.get("reaper") if baseline else None
    if reaper_after and reaper_before:
        def seconds(run: dict[str, Any], phase: str) -> str:
            return f"{run['phase_ms'].get(phase, 0) / 1000:.1f}"

        lines += [text["reaper measured"].format(
            jobs=f"{reaper_after['jobs']:,}", objects=f"{reaper_after['objects']:,}",
            wall_before=f"{reaper_before['wall_seconds']:.1f}", wall_after=f"{reaper_after['wall_seconds']:.1f}",
            purge_before=seconds(reaper_before, "purge"), purge_after=seconds(reaper_after, "purge"),
            sweep_before=seconds(reaper_before, "sweep"), sweep_after=seconds(reaper_after, "sweep"),
            judged_before=f"{reaper_before['judged']:,}", judged_after=f"{reaper_after['judged']:,}",
            margin=f"{20 - reaper_before['wall_seconds']:.1f}",
        ), ""]
    if baseline and baseline.get("throughput"):
        old = {r["clients"]: r for r in baseline["throughput"]}
        found = []
        for r in current["throughput"]:
            b = old.get(r["clients"])
            if b:
                found.append(f"N={r['clients']}: {_n(_rate(b))} -> {_n(_rate(r))} jobs/s "
                             f"({_rate(r) / _rate(b):.2f}x), CPU {b['runtime_cpu_ms_per_job']:.2f} -> "
                             f"{r['runtime_cpu_ms_per_job']:.2f} ms/job")
        if found:
            lines += [text["together measured"].format(parts="; ".join(found)), ""]
    return lines
