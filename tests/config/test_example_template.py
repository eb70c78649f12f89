"""wrangler.toml.example is the single documented template: every setting the Workers read is in it."""

from __future__ import annotations

import re
from pathlib import Path

from shared.config import SETTING_NAMES

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented_in_the_template() -> None:
    template = (ROOT / "wrangler.toml.example").read_text()
    missing = sorted(n for n in SETTING_NAMES if not re.search(rf"\b{n}\b", template))
    assert missing == []
