"""The local runtime (``tts-pipeline dev``) as a separate process on a free loopback port, for benchmarks.

The launcher is tooling/dev_process.py (as for the integration tests); here its logs go to a file rather
than a pipe: nothing in the benchmark process has to drain them, so the client's own CPU use is only the
client's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tooling.dev_process import DevProcess

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


class RuntimeProcess(DevProcess):
    """``tts-pipeline dev`` with the benchmarks' settings, from the tree ``root`` (an export of another
    revision, for before/after), its log in ``data_dir/runtime.log``."""

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, dev_args: Sequence[str] = (), root: Path = ROOT,
        module: Sequence[str] = (),
    ) -> None:
        self.module = list(module)  # another command to run instead (a baseline: bench/baselines/)
        self.overrides = {**BENCH_ENV, **(env or {})}  # what the results record (never the whole environment)
        super().__init__(
            data_dir, dev_args=dev_args, env={**os.environ, **self.overrides}, cwd=root,
            log_path=data_dir / "runtime.log",
        )
        self.root = root
        self.folder = data_dir

    @property
    def command(self) -> list[str]:
        if not self.module:
            return super().command
        return [sys.executable, "-m", *self.module, "--host", "127.0.0.1", "--port", "0",
                "--data-dir", str(self.data_dir), *self.dev_args]

    @staticmethod
    def supports(flag: str, root: Path = ROOT) -> bool:
        """Whether the build in ``root`` has a ``tts-pipeline dev`` that takes ``flag`` (builds differ in a
        before/after run)."""
        out = subprocess.run([sys.executable, "-m", "tts_pipeline", "dev", "--help"], cwd=root,
                             capture_output=True, text=True).stdout
        return flag in out

    def start(self, timeout: float = 30.0) -> RuntimeProcess:  # type: ignore[override]  # returns itself, for `with`
        super().start(timeout)
        return self

    def stop(self, grace: float = 10.0) -> None:
        super().stop(grace)

    def __enter__(self) -> RuntimeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
