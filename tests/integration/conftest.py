"""One integration suite, two runtimes.

A module's ``pipeline`` fixture that asks for ``runtime`` runs its tests on
the local runtime (CPython) and on workerd (``tts-pipeline dev --runtime
workerd``). A test that cannot run on workerd says why with
``@pytest.mark.local_only("reason")``: on workerd it is reported as skipped
with that reason, never silently left out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tiers import tier_unavailable

RUNTIMES = ["local", pytest.param("workerd", marks=pytest.mark.workerd)]


@pytest.fixture(scope="session", params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    name = str(request.param)
    if name == "workerd":
        if os.environ.get("TTS_SKIP_WORKERD") == "1":
            tier_unavailable("TTS_SKIP_WORKERD=1")
        from tooling.workerd import toolchain

        try:
            toolchain.Toolchain.locate()
        except toolchain.ToolchainError as exc:
            tier_unavailable(f"workerd tier: {exc}")
    return name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or callspec.params.get("runtime") != "workerd":
            continue
        marker = item.get_closest_marker("local_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "local runtime only"
            item.add_marker(pytest.mark.skip(reason=f"local runtime only: {reason}"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium driven by playwright (tests/integration/browser.py); the tier's rule if missing.

    Per module, not per session: while Playwright's sync driver is open its event loop runs in the
    main thread, and every async test after it would fail to start its own."""
    from tests.integration.browser import chromium, chromium_path

    if chromium_path() is None:
        tier_unavailable("chromium is not installed: run tools/setup_browser.sh (Debian package 'chromium')")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        tier_unavailable("playwright (PyPI) is not installed: pip install -e '.[test]'")
    with chromium() as launched:
        yield launched
