"""``tts-pipeline dev`` as a child process: started on a free loopback port, waited for, stopped.

Rule: the one launcher of the dev server as a process. The benchmarks (bench/) and the integration
tests (tests/integration/harness.py) build on it. The child runs in its own session, so ``kill()``
takes wrangler and workerd with it; its output goes to a file (nothing in the parent drains it: a
benchmark's own CPU stays its own) or to a pipe a thread drains into ``log_lines``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

STARTED = '"event":"started"'


class DevProcess:
    """``data_dir`` None: no ``--data-dir`` (the command's default under ``cwd``); ``env``: the child's
    whole environment (default: this process's); ``log_path`` None: a pipe; ``wrapper``: a command the
    dev command runs under (it execs it)."""

    def __init__(
        self,
        data_dir: Path | None,
        *,
        dev_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        log_path: Path | None = None,
        wrapper: Sequence[str] = (),
        preexec_fn: Callable[[], None] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.dev_args = list(dev_args)
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.log_path = log_path
        self.wrapper = list(wrapper)
        self.preexec_fn = preexec_fn
        self.process: subprocess.Popen[str] | None = None
        self.log_lines: list[str] = []  # with a pipe: every line the child printed
        self.started: dict[str, Any] = {}  # the runtime's `started` line
        self.port = 0

    @property
    def command(self) -> list[str]:
        data = [] if self.data_dir is None else ["--data-dir", str(self.data_dir)]
        return [*self.wrapper, sys.executable, "-m", "tts_pipeline", "dev", "--host", "127.0.0.1", "--port", "0",
                *data, *self.dev_args]

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("runtime not started")
        return self.process.pid

    def start(self, timeout: float = 30.0, watch: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Start the child and return its ``started`` line once printed (it then serves on ``port``);
        ``watch`` sees the log file's text at each look meanwhile (a benchmark times other lines)."""
        if self.data_dir is not None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.log_path is not None:
            with open(self.log_path, "w") as out:
                self.process = self._popen(out)
        else:
            self.process = self._popen(subprocess.PIPE)
        try:
            if self.log_path is not None:
                return self._wait_in_file(self.log_path, time.monotonic() + timeout, watch)
            return self._wait_in_pipe(time.monotonic() + timeout)
        except BaseException:
            self.kill()  # never leave a half-started runtime (and its wrangler) behind
            raise

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM to the command (it stops what it started), then SIGKILL to its session after ``grace``."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None

    def kill(self) -> None:
        """kill -9 of the runtime and everything it started: no cleanup, no flush."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def _popen(self, stdout: IO[str] | int) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command, stdout=stdout, stderr=subprocess.STDOUT, text=True, env=self.env, cwd=self.cwd,
            start_new_session=True, preexec_fn=self.preexec_fn,
        )

    def _found(self, line: str) -> dict[str, Any]:
        self.started = json.loads(line)
        self.port = int(self.started["url"].rsplit(":", 1)[1])
        return self.started

    def _wait_in_file(self, path: Path, deadline: float, watch: Callable[[str], None] | None) -> dict[str, Any]:
        assert self.process is not None
        while time.monotonic() < deadline:
            text = path.read_text(errors="replace")
            if watch is not None:
                watch(text)
            for line in text.splitlines():
                if line.startswith("{") and STARTED in line:
                    return self._found(line)
            if self.process.poll() is not None:
                raise RuntimeError(f"runtime exited:\n{text[-4000:]}")
            time.sleep(0.05)
        raise RuntimeError("runtime did not start in time")

    def _wait_in_pipe(self, deadline: float) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        stream = self.process.stdout
        while time.monotonic() < deadline:
            line = stream.readline()
            if not line:
                raise RuntimeError(f"runtime exited: {''.join(self.log_lines)}")
            self.log_lines.append(line)
            if line.startswith("{") and STARTED in line:
                # Keep draining its output: a full pipe would block the server.
                threading.Thread(target=self._drain, args=(stream,), daemon=True).start()
                return self._found(line)
        raise RuntimeError("runtime did not start in time")

    def _drain(self, stream: IO[str]) -> None:
        for line in stream:
            self.log_lines.append(line)
