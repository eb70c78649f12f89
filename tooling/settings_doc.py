"""The README's configuration tables, made from the settings table (``shared.config``).

``python -m tooling.settings_doc`` rewrites the block between the
``<!-- settings:begin -->`` and ``<!-- settings:end -->`` markers of README.md;
``tests/config/test_settings_table.py`` fails when the README is out of step.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.config import LocalSettings, SettingSpec, Settings, specs

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"


def _rows(cls: type) -> list[str]:
    rows = ["| name | default | meaning |", "| --- | --- | --- |"]
    for _, spec in specs(cls):
        if spec.doc:
            rows.append(f"| `{spec.env}` | {spec.shown_default} | {_meaning(spec)} |")
    return rows


def _meaning(spec: SettingSpec) -> str:
    return f"{spec.doc} (secret)" if spec.secret else spec.doc


def tables() -> str:
    """The markdown between the markers: the Workers' settings, then the local host's."""
    lines = [
        BEGIN,
        "<!-- made by `python -m tooling.settings_doc` from shared/config.py: edit there -->",
        "",
        *_rows(Settings),
        "",
        "`tts-pipeline dev` only (the local runtime; `QUEUE_MAX_*` and `CRON_INTERVAL_SECONDS` on workerd too); "
        "on Cloudflare each Worker's `wrangler.toml` decides these:",
        "",
        *_rows(LocalSettings),
        END,
    ]
    return "\n".join(lines)


def render(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + tables() + readme[end:]


def main() -> int:
    text = README.read_text()
    updated = render(text)
    if updated != text:
        README.write_text(updated)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
