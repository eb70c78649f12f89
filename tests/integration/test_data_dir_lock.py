"""One ``tts-pipeline dev`` per data dir: a second one exits with a one-line error naming the first."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow


def test_a_second_dev_on_the_same_data_dir_exits_naming_the_first(tmp_path: Path) -> None:
    first = Pipeline(tmp_path).start()
    try:
        assert first.process is not None
        second = subprocess.run(
            [sys.executable, "-m", "tts_pipeline", "dev", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=30, env={**os.environ, "CRON_INTERVAL_SECONDS": "0"},
        )
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1, second.stderr
        assert f"pid {first.process.pid}" in lines[0]
        # the first one is unharmed
        assert first.request("GET", "/v1/models").status == 200
    finally:
        first.stop()


def test_the_data_dir_is_free_again_after_a_kill(tmp_path: Path) -> None:
    first = Pipeline(tmp_path).start()
    first.kill()  # kill -9: the kernel drops the lock with the process
    again = Pipeline(tmp_path).start()
    try:
        assert again.request("GET", "/v1/models").status == 200
    finally:
        again.stop()
