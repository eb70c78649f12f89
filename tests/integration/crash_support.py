"""What the kill -9 suites share: job texts, and reading a dead runtime's files and logs.

``census`` reads the local runtime's SQLite files after a kill to say where
the kill landed; ``logged_events`` counts the JSON log events of every
process a run started (a killed process's last lines may be missing).
"""

from __future__ import annotations

import json
import random
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests.integration.harness import Pipeline

WORDS = (
    "the quick brown fox jumps over a lazy dog while seven tired engineers restart the queue "
    "and every message comes back once more before the lease runs out"
).split()


def text_for(rng: random.Random, chars: int) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < chars:
        words.append(rng.choice(WORDS))
    return (" ".join(words).capitalize() + ".")[: max(chars, 2)]


@dataclass
class Kill:
    at: float  # wall clock of the kill
    restarted: float  # wall clock when the restart began
    synthesizing: list[str] = field(default_factory=list)  # claimed, no audio yet (synthesis or put)
    stored: list[str] = field(default_factory=list)  # audio in R2, not completed
    completed_unacked: list[str] = field(default_factory=list)  # completed, message not acked


def shard_jobs(data_dir: Path) -> dict[str, str]:
    """job id -> status, every job row in every shard's SQLite file."""
    jobs: dict[str, str] = {}
    for shard in (data_dir / "do").rglob("*.sqlite"):
        with closing(sqlite3.connect(shard)) as db:
            jobs.update(db.execute("SELECT job_id, status FROM jobs").fetchall())
    return jobs


def census(data_dir: Path, kill: Kill) -> None:
    """Where the kill landed, from the dead process's files."""
    objects = Pipeline(data_dir).object_keys()
    with_audio = {Path(k).stem for k in objects if k.startswith("audio/")}
    jobs = shard_jobs(data_dir)
    with closing(sqlite3.connect(data_dir / "queues.sqlite")) as db:
        unacked = [json.loads(b)["jobId"] for (b,) in db.execute(
            "SELECT body FROM queue_messages WHERE queue = 'tts-jobs' AND in_flight = 1")]
    for job_id, status in jobs.items():
        if status == "processing":
            (kill.stored if job_id in with_audio else kill.synthesizing).append(job_id)
    kill.completed_unacked = sorted({j for j in unacked if jobs.get(j) == "completed"})


def logged_events(pipelines: list[Pipeline]) -> tuple[dict[str, int], dict[str, int]]:
    """(event -> count, job id -> job_completed count) over every process's log."""
    events: dict[str, int] = {}
    completions: dict[str, int] = {}
    for pipeline in pipelines:
        for line in pipeline.log_lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict):
                continue
            event = str(entry.get("event"))
            events[event] = events.get(event, 0) + 1
            if event == "job_completed":
                completions[entry["jobId"]] = completions.get(entry["jobId"], 0) + 1
    return events, completions


def timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
