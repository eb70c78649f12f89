"""wrangler.toml.example is the single documented template: every setting the code reads is in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Settings only the local runtime reads (documented in the README instead).
LOCAL_ONLY = {"WEBHOOK_ALLOWED_SCHEMES", "WEBHOOK_ALLOWED_HOSTS"}


def names_read_by(path: Path) -> set[str]:
    return set(re.findall(r'env, "([A-Z][A-Z0-9_]+)"', path.read_text()))


def test_every_setting_is_documented_in_the_template() -> None:
    names = names_read_by(ROOT / "shared" / "config.py")
    assert len(names) > 20  # the regex still finds the settings
    template = (ROOT / "wrangler.toml.example").read_text()
    missing = sorted(n for n in names if not re.search(rf"\b{n}\b", template))
    assert missing == []


def test_every_setting_reaches_the_workers() -> None:
    # The Cloudflare adapters import `js`, so read the tuple from the source.
    tree = ast.parse((ROOT / "shared" / "config.py").read_text())
    node = next(
        n.value for n in tree.body
        if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "SETTING_NAMES" for t in n.targets)
    )
    listed = set(ast.literal_eval(node))
    assert sorted(names_read_by(ROOT / "shared" / "config.py") - listed) == []
