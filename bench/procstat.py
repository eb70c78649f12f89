"""CPU time and memory of a process, from ``/proc`` (Linux)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After "pid (comm)": field 14/15 of stat are utime/stime, i.e. index 11/12 here.
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def rss_mib(pid: int) -> float:
    """Resident memory now."""
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (``VmHWM``) since start or the last ``reset_peak_rss``."""
    return _status_kib(pid, "VmHWM") / 1024


def reset_peak_rss(pid: int) -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux >= 4.0; needs the right to write
    ``/proc/<pid>/clear_refs``). Returns whether it worked."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    """Direct children (``/proc/<pid>/task/*/children``, Linux >= 3.5)."""
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return out


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it (a runtime and anything it started)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += _children(current)
    return pids


def _tree_sum(pid: int, read: Callable[[int], float]) -> float:
    total = 0.0
    for p in tree(pid):
        try:
            total += read(p)
        except (OSError, KeyError):  # exited meanwhile
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live descendants (read them before they exit)."""
    return _tree_sum(pid, cpu_seconds)


def tree_peak_rss_mib(pid: int) -> float:
    """The sum of the peaks of ``pid`` and its live descendants: an upper bound of the tree's peak."""
    return _tree_sum(pid, peak_rss_mib)
