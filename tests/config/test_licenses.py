"""The project has a license, and the README lists every third-party package's as the packages declare it."""

from __future__ import annotations

from pathlib import Path

from tests.tiers import tier_unavailable
from tooling import licenses

ROOT = Path(__file__).resolve().parents[2]


def test_the_project_is_apache_2_and_says_so_everywhere() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert 'license = "Apache-2.0"' in (ROOT / "pyproject.toml").read_text()
    assert "## License" in (ROOT / "README.md").read_text()


def test_readme_lists_each_dependencys_license_as_pip_licenses_reports_it() -> None:
    readme = (ROOT / "README.md").read_text()
    try:
        rendered = licenses.render(readme)
    except licenses.LicenseError as exc:
        tier_unavailable(f"license tables: {exc}")
    assert rendered == readme, "run: python -m tooling.licenses"


def test_every_runtime_dependency_and_bundled_wheel_is_listed() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index(licenses.BEGIN) : readme.index(licenses.END)]
    for name in licenses.runtime_dependencies():
        assert f"| `{name}` |" in block, name
    for name in ("pydantic", "workers-runtime-sdk"):
        assert f"| `{name}` |" in block
    # a package whose metadata says nothing still gets a word, with its source
    assert "| `espeakng-loader` | UNKNOWN | the wheel declares none: its own code is MIT" in block
