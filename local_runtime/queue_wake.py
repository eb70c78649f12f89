"""A queue's consumer, woken by a send from another process of the split runtime.

In one process a send wakes its queue's runner through ``queue_types.notify``.
Across processes the runner would only see the message at its next poll
(``LocalQueueRunner.poll_interval``), adding up to that much to every job's
latency. So the consumer's process listens on one Unix datagram socket per
queue, and the other processes register a listener that sends a byte there
after each send: one system call, never blocking (a full socket means a wake
is already waiting), and nothing at all if no consumer listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable
from pathlib import Path

from local_runtime.bindings.queue_types import add_listener, remove_listener


def wake_path(run_dir: Path, queue_name: str) -> Path:
    return run_dir / f"wake-{queue_name}"


class WakeListener:
    """Calls ``wake()`` on the running loop whenever a datagram reaches ``path``."""

    def __init__(self, path: Path, wake: Callable[[], None]) -> None:
        self.path = path
        self._wake = wake
        self._sock: socket.socket | None = None

    def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.bind(str(self.path))
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._sock is not None
        with contextlib.suppress(BlockingIOError):
            while self._sock.recv(64):
                pass
        self._wake()

    def close(self) -> None:
        if self._sock is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class WakeSender:
    """Sends a wake to ``path`` after every send to ``queue_name`` in this process."""

    def __init__(self, db_path: str, queue_name: str, path: Path) -> None:
        self._db_path = db_path
        self._queue_name = queue_name
        self._path = str(path)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        add_listener(db_path, queue_name, self)

    def __call__(self) -> None:
        # No listener yet (or any more), or its buffer full of wakes: nothing to do.
        with contextlib.suppress(BlockingIOError, FileNotFoundError, ConnectionRefusedError, OSError):
            self._sock.sendto(b"!", self._path)

    def close(self) -> None:
        remove_listener(self._db_path, self._queue_name, self)
        self._sock.close()
