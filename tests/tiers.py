"""What a test does when a tier's tooling (Node 24, Pyodide, Chromium) is missing.

On a developer's machine it skips with the reason. Where every tier must run
(``.ci/run`` sets ``TTS_REQUIRE_ALL_TIERS=1``) it fails instead, so a broken
install can never turn into a green run that tested less.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def tier_unavailable(reason: str) -> NoReturn:
    if os.environ.get("TTS_REQUIRE_ALL_TIERS") == "1":
        pytest.fail(f"required tier unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
