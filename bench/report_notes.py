"""The report's prose about what was profiled and changed (kept apart from the tables)."""

from __future__ import annotations

from typing import Any


def optimizations(current: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    lines = ["## Profile and optimizations", ""]
    if baseline is None:
        lines += ["Run with `--baseline <commit>` to put a before/after of the same benchmarks in the tables above.", ""]
    return lines
