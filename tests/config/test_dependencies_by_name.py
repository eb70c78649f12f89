"""Tests get the pipeline's dependencies one way: ``tests.fakes.bootstrap_test_app`` (overrides by name),
the api as ``api_app`` of them. No test builds ``Dependencies`` or an ``ApiApp`` itself, or calls the
bootstrap around the helper, so a field added to ``Dependencies`` or a decision added to the bootstrap
reaches every test at once. (``dataclasses.replace`` of one a test was given is by name, and fine.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILT_ONLY_BY_THE_BOOTSTRAP = {"Dependencies", "ApiApp"}
HELPER = Path("tests/fakes.py")  # bootstrap_test_app: the one test code that calls the bootstrap


def direct_builds(source: str, *, helper: bool = False) -> list[int]:
    """Lines of ``source`` that build a dependency class, or call ``bootstrap`` outside the helper."""
    forbidden = BUILT_ONLY_BY_THE_BOOTSTRAP | (set() if helper else {"bootstrap"})
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in forbidden:
                lines.append(node.lineno)
    return sorted(lines)


def test_no_test_builds_dependencies_itself() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for line in direct_builds(path.read_text(), helper=path.relative_to(ROOT) == HELPER)
    ]
    assert found == [], "use tests.fakes.bootstrap_test_app(**overrides) (and shared.bootstrap.api_app)"


def test_the_helper_builds_through_the_bootstrap() -> None:
    source = (ROOT / HELPER).read_text()
    assert direct_builds(source, helper=True) == []
    assert "bootstrap(" in source


def test_the_scan_sees_each_way_of_building() -> None:
    source = "\n".join([
        "deps = Dependencies(settings, jobs)",
        "app = shared.api.app.ApiApp(deps)",
        "deps = bootstrap(settings=s)",
        "deps = bootstrap_test_app(s, clock=c)",
        "app = api_app(bootstrap_test_app())",
        "other = replace(deps, jobs=jobs)",
    ])
    assert direct_builds(source) == [1, 2, 3]
    assert direct_builds(source, helper=True) == [1, 2]
