"""The data dir holds job text and audio: directories are created 0700 and files 0600.

Only the user running the runtime may read what it stores (other local
users could otherwise read every job's text and audio). SQLite gives a
database's ``-wal`` and ``-shm`` files the mode of the database file, so
creating the database file first (``private_file``) covers them too.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: str | Path) -> Path:
    """``path`` and its missing parents, each new one created 0700."""
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        directory.chmod(DIR_MODE)  # mkdir's mode passes through the umask
    return path


def private_file(path: str | Path) -> Path:
    """Create ``path`` (empty) 0600 unless it exists, in a private directory."""
    path = Path(path)
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    os.close(fd)
    return path


def open_private(path: str | Path) -> int:
    """A new file ``path`` (replacing any) opened for writing, 0600; returns its descriptor."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
