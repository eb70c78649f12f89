"""No test builds the pipeline's dependencies by position: a field added or reordered in a ``*Deps`` or
``RuntimePorts`` never shifts a test's arguments into the wrong fields."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCIES = {"ApiDeps", "ConsumerDeps", "ReaperDeps", "WebhookDeps", "RuntimePorts"}


def positional_builds(source: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in DEPENDENCIES:
                lines.append(node.lineno)
    return lines


def test_no_test_builds_dependencies_by_position() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line in positional_builds(path.read_text())
    ]
    assert found == []


def test_the_scan_sees_a_positional_build() -> None:
    assert positional_builds("deps = ReaperDeps(jobs, bucket)\nok = ReaperDeps(jobs=jobs)") == [1]
