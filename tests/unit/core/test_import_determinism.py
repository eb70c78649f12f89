"""Importing ``shared`` reads no clock, draws no randomness and starts nothing.

On Cloudflare the Worker's top-level code runs once, at deploy, and the Wasm
memory is snapshotted (the dedicated snapshot every Python Worker with our
compatibility date gets); each isolate starts from that snapshot. A value
computed from the clock or from randomness at import would be frozen into
every isolate (and workerd refuses randomness there). This imports every
module of ``shared`` in a fresh interpreter whose clock and random sources
raise, after every other module they import (standard library, pydantic)
is loaded: only our own top-level code runs under the guard.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

PROBE = textwrap.dedent(
    """
    import ast, importlib, os, pkgutil, random, secrets, sys, time, uuid
    from pathlib import Path
    import pydantic

    for path in Path("shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            for name in names:
                if name.split(".")[0] != "shared":
                    try:
                        importlib.import_module(name)
                    except ImportError:
                        pass

    class _Warmup(pydantic.BaseModel):  # pydantic's own first-model work, outside the guard
        x: int = pydantic.Field(default=0)

    def guard(name):
        def refuse(*args, **kwargs):
            raise RuntimeError(f"{name}() called while importing")
        return refuse

    for module, names in {
        time: ["time", "time_ns"],
        os: ["urandom", "getrandom"],
        random: ["random", "randint", "randrange", "choice", "choices", "shuffle", "uniform",
                 "getrandbits", "randbytes", "sample"],
        secrets: ["token_bytes", "token_hex", "token_urlsafe", "randbits", "choice"],
        uuid: ["uuid1", "uuid4"],
    }.items():
        for name in names:
            if hasattr(module, name):
                setattr(module, name, guard(f"{module.__name__}.{name}"))

    import shared
    failures = []
    for info in pkgutil.walk_packages(shared.__path__, "shared."):
        try:
            importlib.import_module(info.name)
        except Exception as exc:
            failures.append(f"{info.name}: {exc}")
    print("\\n".join(failures))
    sys.exit(1 if failures else 0)
    """
)


def test_importing_shared_reads_no_clock_and_no_randomness() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
