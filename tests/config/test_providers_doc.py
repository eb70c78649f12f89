"""docs/providers.md's table of models says what the code does: each model's characters per request."""

from __future__ import annotations

import re
from pathlib import Path

from shared.config import Settings
from shared.synthesis.catalogue import espeak_spec, tone_spec
from shared.synthesis.providers import cloud_specs

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


def documented_chars_per_request() -> dict[str, int]:
    """``model id -> characters per request`` from the "Models and formats" table."""
    lines = DOC.read_text().split("## Models and formats", 1)[1].splitlines()
    header = next(line for line in lines if line.startswith("| model id"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    index = columns.index("characters per request")
    out: dict[str, int] = {}
    for line in lines[lines.index(header) + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        model = re.match(r"`([^`]+)`", cells[0])
        number = re.match(r"[\d,]+", cells[index])
        assert model and number, line
        out[model.group(1)] = int(number.group(0).replace(",", ""))
    return out


def test_each_models_characters_per_request_is_the_codes() -> None:
    specs = [tone_spec(), espeak_spec(), *cloud_specs(Settings.from_env({}))]
    actual = {spec.id: spec.max_input_chars for spec in specs}
    documented = documented_chars_per_request()
    assert set(documented) <= set(actual), set(documented) - set(actual)
    assert {m: actual[m] for m in documented} == documented
    assert {"tone", "espeak"} <= set(documented)
