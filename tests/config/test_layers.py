"""The layer table of docs/architecture.md holds: import-linter's contracts in pyproject.toml pass.

import-linter reads the sources (it imports nothing, so ``js`` and ``pyodide`` need not exist here) and
counts every import, also those inside functions and under ``TYPE_CHECKING``. The Workers' entry modules
are three top-level modules named ``entry``, which no package holds: their rule (``workers``, ``js``,
``pyodide``, the adapters, ``shared/`` and the standard library only) is checked here from their source.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
ENTRY_MAY_IMPORT = {"workers", "js", "pyodide", "cloudflare_adapters", "shared"}


def test_the_import_contracts_pass() -> None:
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_the_contracts_cover_every_package() -> None:
    packages = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file()}
    assert set(CONFIG["root_packages"]) == packages


def test_no_contract_ignores_an_import() -> None:
    """Every import counts: a circle, or an arrow up the layer table, is moved away, never listed."""
    ignored = {contract["name"]: contract["ignore_imports"] for contract in CONFIG["contracts"] if "ignore_imports" in contract}
    assert ignored == {}


def test_entry_modules_import_only_the_workers_sdk_the_adapters_and_shared() -> None:
    entries = sorted(ROOT.glob("workers/*/src/entry.py"))
    assert len(entries) == 3
    found: list[str] = []
    for path in entries:
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for name in names:
                top = name.split(".")[0]
                if top not in ENTRY_MAY_IMPORT and top not in sys.stdlib_module_names and top != "__future__":
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    assert found == []
