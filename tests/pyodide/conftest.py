"""Fixtures of the Pyodide conformance tier (docs/architecture.md, "Test tiers", 3).

One Node 24 process per test session hosts every Worker under test, each in
its own Pyodide, with Miniflare's R2 and Queues (see harness.mjs). Node 24,
the npm packages and the wasm wheels are installed by
tools/setup_pyodide_env.sh, which the session fixture runs (it is a no-op
when everything is in place). The tier is skipped, with the reason, only
when that setup fails.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pyodide_harness import REPO_ROOT, Harness, worker_spec  # noqa: E402
from tests.tiers import tier_unavailable

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.pyodide)


def _setup_node() -> str:
    """Runs the idempotent setup script; returns the Node 24 binary's path."""
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    done = subprocess.run(
        ["bash", str(REPO_ROOT / "tools/setup_pyodide_env.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        tier_unavailable(f"Pyodide tier: Node 24 / Pyodide setup failed:\n{tail}")
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    node = _setup_node()
    h = Harness(node, tmp_path_factory.mktemp("pyodide") / "harness.log")
    try:
        yield h
    finally:
        h.close()


@pytest.fixture(scope="session")
def mini(harness: Harness) -> str:
    """The throwaway fixture Worker (fixtures/mini_worker), started; its name."""
    harness.add_workers({"mini": worker_spec(FIXTURES / "mini_worker")})
    harness.call("start", worker="mini")
    return "mini"
