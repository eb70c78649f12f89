"""shared/platform_limits.py: every limit says where Cloudflare states it, and the code uses the one declaration."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from shared import platform_limits

ROOT = Path(__file__).resolve().parents[3]
SOURCE = Path(platform_limits.__file__)
UNITS = {"KB", "MB", "MIB", "GIB", "TIB"}
DOCS = re.compile(r"https://developers\.cloudflare\.com/\S+")


def declarations() -> dict[str, str | None]:
    """Each top-level constant -> the docstring that follows it (None when there is none)."""
    body = ast.parse(SOURCE.read_text()).body
    found: dict[str, str | None] = {}
    for node, following in zip(body, [*body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = None
            if isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant):
                doc = str(following.value.value)
            found[node.target.id] = doc
    return found


def test_every_limit_names_its_source_page() -> None:
    limits = {name: doc for name, doc in declarations().items() if name not in UNITS}

    assert len(limits) > 20, "the scan found too few limits: is it still reading the module?"
    assert sorted(name for name, doc in limits.items() if not doc or not DOCS.search(doc)) == []


def test_the_values_are_cloudflares() -> None:
    # Written out here as the docs state them, so an edit to the module is seen twice.
    assert platform_limits.R2_MAX_KEYS_PER_DELETE == 1_000
    assert platform_limits.R2_MULTIPART_MIN_PART_BYTES == 5 * 1024 * 1024
    assert platform_limits.QUEUE_MAX_MESSAGE_BYTES == 128_000
    assert platform_limits.QUEUE_MAX_DELAY_SECONDS == 24 * 3600
    assert platform_limits.QUEUE_CONSUMER_WALL_SECONDS == 15 * 60
    assert platform_limits.WORKER_SUBREQUESTS == 10_000
    assert platform_limits.DO_SQL_MAX_BOUND_PARAMETERS == 100


def test_no_module_restates_a_cloudflare_limit_under_its_own_name() -> None:
    # The spellings the limits had before they had one home.
    restated = re.compile(
        r"^\s*(MAX_DELETE\w*|R2_DELETE_MAX|MAX_LIST_LIMIT|MAX_KEY_BYTES|MAX_METADATA_BYTES|MULTIPART_M\w+"
        r"|MAX_DELAY_SECONDS|MAX_SEND_BATCH_\w+|QUEUE_BODY_MAX_BYTES|MAX_PARAMS|MAX_STATEMENT_BYTES"
        r"|MAX_VALUE_BYTES|LIMIT_FREE|LIMIT_PAID|PERIODS)\s*=",
        re.MULTILINE,
    )
    found = [
        f"{path.relative_to(ROOT)}: {match.group(1)}"
        for package in ("shared", "cloudflare_adapters", "local_runtime", "tooling", "workers")
        for path in (ROOT / package).rglob("*.py")
        if "python_modules" not in path.parts
        for match in restated.finditer(path.read_text())
    ]
    assert found == []
