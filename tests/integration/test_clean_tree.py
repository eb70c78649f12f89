"""The README's first command, run in a fresh copy of the tree, leaves ``git status`` clean.

``tts-pipeline dev`` without ``--data-dir`` keeps its jobs, audio and queues
in ``.tts-data/`` where it runs (the checkout's root in the README), and
``.gitignore`` must cover it and anything else a run writes there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def test_a_run_and_a_job_leave_the_tree_clean(tmp_path: Path) -> None:
    # GIVEN a fresh repository holding the project's tracked files (its code imported from there)
    tree = tmp_path / "clone"
    for name in git(ROOT, "ls-files", "-z").split("\0"):
        if name and (ROOT / name).is_file():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tree / name)
    git(tree, "init", "-q")
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "clone")
    # WHEN the first command runs there (no --data-dir) and a job is submitted over the API
    pipeline = Pipeline(tmp_path / "unused", cwd=tree, env={"PYTHONPATH": str(tree)}).start()
    try:
        job = pipeline.submit("Hello from a clean tree")
        assert pipeline.wait(job["jobId"])["status"] == "completed"
    finally:
        pipeline.stop()
    # THEN its data is in .tts-data/ and git sees nothing new
    assert (tree / ".tts-data").is_dir() and any((tree / ".tts-data").iterdir())
    assert git(tree, "status", "--porcelain") == ""
