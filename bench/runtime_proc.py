"""The local runtime (``tts-pipeline dev``) as a separate process on a free loopback port.

Like ``tests/integration/harness.py``, but its logs go to a file rather than
a pipe: nothing in the benchmark process has to drain them, so the client's
own CPU use is only the client's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_ENV = {
    "CRON_INTERVAL_SECONDS": "0",  # the reaper is measured on its own (bench.ops)
    "JOB_RATE_LIMIT": "0",  # the per-tenant submit rate limit would cap the benchmark, not the pipeline
    # The in-flight cap stays on (its count runs on every submit, as in production) but out of reach.
    "MAX_JOBS_IN_FLIGHT": "100000000",
    # Every benchmark job speaks the same text: with the cache on, all but the first would be hits
    # (bench.cache measures the cache on its own).
    "SYNTHESIS_CACHE": "off",
}


class RuntimeProcess:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, dev_args: Sequence[str] = (), root: Path = ROOT
    ) -> None:
        self.data_dir = data_dir
        self.root = root  # the tree whose code runs (an export of another revision, for before/after)
        self.dev_args = list(dev_args)  # more `tts-pipeline dev` options
        self.env = {**BENCH_ENV, **(env or {})}
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "runtime.log"

    @staticmethod
    def supports(flag: str, root: Path = ROOT) -> bool:
        """Whether the build in ``root`` has a ``tts-pipeline dev`` that takes ``flag`` (builds differ in a
        before/after run)."""
        out = subprocess.run([sys.executable, "-m", "local_runtime.cli", "dev", "--help"], cwd=root,
                             capture_output=True, text=True).stdout
        return flag in out

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("runtime not started")
        return self.process.pid

    def start(self, timeout: float = 30.0) -> RuntimeProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - the child keeps it open
        self.process = subprocess.Popen(
            [sys.executable, "-m", "local_runtime.cli", "dev", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(self.data_dir), *self.dev_args],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, env={**os.environ, **self.env},
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.log_path.read_text(errors="replace").splitlines():
                if '"event":"started"' in line:
                    self.port = int(json.loads(line)["url"].rsplit(":", 1)[1])
                    return self
            if self.process.poll() is not None:
                raise RuntimeError(f"runtime exited:\n{self.log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("runtime did not start in time")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def __enter__(self) -> RuntimeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
