"""What machine and code a benchmark ran on, for the report's header."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def _git(*args: str) -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def _load() -> str:
    """The 1/5/15-minute load averages: other work on the machine moves the numbers."""
    try:
        return " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def describe() -> dict[str, str]:
    """``nproc``, CPU model, memory, Python, OS and the git commit, as strings."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 0)
    memory = _memory_gib()
    # A baseline is measured in an export of its revision, which has no .git.
    commit = os.environ.get("BENCH_COMMIT") or _git("rev-parse", "--short", "HEAD")
    dirty = "" if os.environ.get("BENCH_COMMIT") else _git("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": str(cpus),
        "cpu": _cpu_model(),
        "memory": f"{memory:.1f} GiB" if memory is not None else "unknown",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "load": _load(),
        "commit": f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown",
        "executable": sys.executable,
    }
