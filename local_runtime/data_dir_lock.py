"""One local runtime per data dir, held by an ``fcntl.flock`` on ``<data dir>/runtime.lock``.

Two processes on the same SQLite queue and R2 index would each believe the
other's in-flight messages and leases were their own. The kernel drops the
lock when the holder exits, ``kill -9`` included, so a stale lock file never
blocks a restart; the pid written into it only serves the error message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from shared.errors import ConfigError

LOCK_NAME = "runtime.lock"


class DataDirInUseError(ConfigError):
    """Raised when another live process holds the data dir's lock."""


class DataDirLock:
    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise DataDirInUseError(
                f"data dir {data_dir} is in use by another tts-pipeline dev ({holder});"
                " stop it or pass another --data-dir"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock

    def __del__(self) -> None:
        self.release()


def _holder(fd: int) -> str:
    """The holder's pid as written in the lock file (it may be mid-write: look a few times)."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return f"pid {text}"
        time.sleep(0.01)
    return "pid unknown"
