"""mypy passes, strict, on every package of the tree (``[tool.mypy]`` in pyproject.toml names them) and
on each Worker's entry module (three top-level modules named ``entry``: one run each).

Run in a subprocess, as ``mypy`` runs by hand, with its cache in the worktree's ``.mypy_cache`` (a
second run checks only what changed). Every ``# type: ignore`` left names its error code and says why.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
IGNORE = re.compile(r"#\s*type:\s*ignore(?P<codes>\[[^\]]*\])?(?P<rest>.*)$")


def test_mypy_passes_strict() -> None:
    assert CONFIG["strict"] is True
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


ENTRIES = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("workers/*/src/entry.py"))


@pytest.mark.parametrize("entry", ENTRIES)
def test_mypy_passes_strict_on_each_entry_module(entry: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context", entry],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_type_ignore_names_its_error_and_a_reason() -> None:
    assert len(ENTRIES) == 3
    bare: list[str] = []
    paths = [path for package in CONFIG["files"] for path in sorted((ROOT / package).rglob("*.py"))]
    for path in [*paths, *(ROOT / entry for entry in ENTRIES)]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found = IGNORE.search(line)
            if found and not (found["codes"] and found["rest"].strip().startswith("#")):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert bare == []
    sample = IGNORE.search("x = 1  # type: ignore[misc]  # why")
    assert sample is not None and sample["codes"] == "[misc]" and sample["rest"].strip() == "# why"
