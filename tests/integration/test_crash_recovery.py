"""kill -9 at random moments, restart, with the shipped defaults: no job lost, none done twice, none failed.

N jobs across the models (tone, and espeak where the runtime has it) are
submitted in K + 1 waves; after each of the first K waves the runtime is
killed with SIGKILL (its whole process group) at a random moment while its
jobs are being worked on, then restarted on the same data dir. Before each
restart the dead process's files are read to say where the kill landed: a
job claimed but with no audio yet (synthesis or put), a job whose audio is
in R2 but not completed (between put and complete), a completed job whose
message was not acked yet (between complete and ack). Then:

- every accepted job (202) ends ``completed``, none ``failed``;
- each completed at most once (one ``job_completed`` per job in the logs the
  processes managed to write) and has exactly one object, its audio, whose
  length is the job's ``sizeBytes``;
- after the reaper's run (``GET /__scheduled``) the bucket holds exactly
  those objects: nothing stray under ``audio/`` or ``tmp/``;
- the p50 / max time from a restart to the completion of the jobs that
  were in flight at the kill before it is measured and printed.

Longer runs: ``TTS_CRASH_JOBS=200 TTS_CRASH_KILLS=25`` (``TTS_CRASH_SEED``
repeats a run; ``TTS_CRASH_REPORT=path.json`` writes the figures), e.g.

    TTS_CRASH_JOBS=200 TTS_CRASH_KILLS=25 .venv/bin/python -m pytest -q -s \\
        -p no:cacheprovider tests/integration/test_crash_recovery.py -k "not workerd"
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.crash_support import Kill, census, logged_events, text_for, timestamp
from tests.integration.harness import Pipeline

JOBS = int(os.environ.get("TTS_CRASH_JOBS", "24"))
KILLS = int(os.environ.get("TTS_CRASH_KILLS", "3"))
SEED = int(os.environ.get("TTS_CRASH_SEED", str(time.time_ns() % 1_000_000)))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.local_only(
        "Miniflare's queue broker keeps messages in memory (a JS array, not storage): a kill -9 loses "
        "every queued and in-flight message, and with the defaults only the reaper's repair after "
        "REAPER_STUCK_SECONDS (900 s) would bring those jobs back; the kill-phase census also reads "
        "the local runtime's SQLite files"
    ),
]

@dataclass
class CrashRun:
    seed: int
    accepted: list[str]
    final: dict[str, dict[str, Any]]
    kills: list[Kill]
    keys_before_sweep: list[str]
    keys_after_sweep: list[str]
    reaper: dict[str, Any]
    audio_lengths: dict[str, int]
    completions_logged: dict[str, int]
    log_events: dict[str, int]
    seconds: float


def wait_until_working(data_dir: Path, ids: list[str], timeout: float = 5.0) -> None:
    """Until one of this wave's jobs is claimed, read from the shards' SQLite files (the API
    cannot answer while a tone synthesis holds the event loop). Only this wave's: a job
    redelivered after the last restart would otherwise take every kill (a job killed
    MAX_LAPSED_CLAIMS times is failed as poison, by design: see docs/reaper.md)."""
    marks = ", ".join("?" for _ in ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for shard in (data_dir / "do").rglob("*.sqlite"):
            with closing(sqlite3.connect(f"file:{shard}?mode=ro", uri=True, timeout=1)) as db:
                try:
                    query = f"SELECT 1 FROM jobs WHERE status = 'processing' AND job_id IN ({marks}) LIMIT 1"
                    if db.execute(query, ids).fetchone():
                        return
                except sqlite3.OperationalError:
                    pass  # busy or not created yet
        time.sleep(0.005)


def run(data_dir: Path, runtime: str) -> CrashRun:
    rng = random.Random(SEED)
    started = time.monotonic()
    pipelines = [Pipeline(data_dir, runtime=runtime).start()]
    models = [m["id"] for m in pipelines[0].request("GET", "/v1/models").json()["models"]]
    cycle = ["tone", "espeak", "tone"] if "espeak" in models else ["tone"]
    waves = [list(range(JOBS))[w::KILLS + 1] for w in range(KILLS + 1)]
    accepted: list[str] = []
    kills: list[Kill] = []
    for wave, members in enumerate(waves):
        current = pipelines[-1]
        ids = []
        for position, n in enumerate(members):
            model = "tone" if position == 0 else cycle[n % len(cycle)]
            # Each wave opens with a long job (about 0.3 s of synthesis, 8 MB to put), so
            # the kill's random moment falls inside work, not after it.
            chars = 3000 if position == 0 else rng.randint(20, 1200 if model == "tone" else 1500)
            ids.append(current.submit(text=text_for(rng, chars), model=model)["jobId"])
        accepted.extend(ids)
        if wave == KILLS:
            break
        if wave == 0:
            # The first kill lands the moment the wave's long job is claimed: at least one
            # kill then finds work in flight whatever the seed (a random moment alone
            # fell after all of a wave's work for some seeds).
            wait_until_working(data_dir, ids[:1])
        else:
            wait_until_working(data_dir, ids)
            time.sleep(rng.uniform(0.0, 0.3))  # a random moment in the wave's work
        kill = Kill(at=time.time(), restarted=0.0)
        current.kill()
        census(data_dir, kill)
        kill.restarted = time.time()
        pipelines.append(Pipeline(data_dir, runtime=runtime).start())
        kills.append(kill)

    last = pipelines[-1]
    try:
        final = {i: last.wait(i, timeout=180) for i in accepted}
        keys_before = last.object_keys()
        reaper = last.request("GET", "/__scheduled").json()
        keys_after = last.object_keys()
        lengths = {}
        for job_id, job in final.items():
            if job.get("status") == "completed":
                reply = last.request("GET", f"/v1/jobs/{job_id}/audio")
                assert reply.status == 200, reply.body[:200]
                lengths[job_id] = len(reply.body)
    finally:
        last.stop()
    events, completions = logged_events(pipelines)
    return CrashRun(
        seed=SEED, accepted=accepted, final=final, kills=kills, keys_before_sweep=keys_before,
        keys_after_sweep=keys_after, reaper=reaper, audio_lengths=lengths, completions_logged=completions,
        log_events=events, seconds=time.monotonic() - started,
    )


def recovery_seconds(result: CrashRun) -> list[float]:
    """For each job in flight at a kill, restart of the runtime -> its completedAt (the last such kill)."""
    latest: dict[str, float] = {}
    for kill in result.kills:
        for job_id in kill.synthesizing + kill.stored:
            latest[job_id] = kill.restarted
    out = []
    for job_id, restarted in latest.items():
        done = result.final[job_id].get("completedAt")
        if done:
            out.append(timestamp(done) - restarted)
    return out


@pytest.fixture(scope="module")
def crash_run(runtime: str, tmp_path_factory: pytest.TempPathFactory) -> CrashRun:
    result = run(tmp_path_factory.mktemp("crash"), runtime)
    waits = recovery_seconds(result)
    figures = {
        "seed": result.seed, "jobs": len(result.accepted), "kills": len(result.kills),
        "killedDuringSynthesisOrPut": sum(len(k.synthesizing) for k in result.kills),
        "killedBetweenPutAndComplete": sum(len(k.stored) for k in result.kills),
        "killedBetweenCompleteAndAck": sum(len(k.completed_unacked) for k in result.kills),
        "killsWithWorkInFlight": sum(1 for k in result.kills if k.synthesizing or k.stored or k.completed_unacked),
        "inFlightJobsRecovered": len(waits),
        "restartToCompletionP50": round(statistics.median(waits), 2) if waits else None,
        "restartToCompletionMax": round(max(waits), 2) if waits else None,
        "statuses": {s: sum(1 for j in result.final.values() if j.get("status") == s)
                     for s in sorted({str(j.get("status")) for j in result.final.values()})},
        "events": {e: result.log_events.get(e, 0) for e in (
            "redelivered_in_flight", "lease_held_deferred", "lease_held", "lease_lost", "dead_letter_resent",
            "job_dead_lettered", "job_retry")},
        "seconds": round(result.seconds, 1),
    }
    print(f"\ncrash run: {json.dumps(figures)}")
    if os.environ.get("TTS_CRASH_REPORT"):
        Path(os.environ["TTS_CRASH_REPORT"]).write_text(json.dumps(figures, indent=2) + "\n")
    return result


def test_every_accepted_job_completes_and_none_fails(crash_run: CrashRun) -> None:
    statuses = {i: j.get("status") for i, j in crash_run.final.items()}
    assert len(statuses) == len(crash_run.accepted) == JOBS
    not_done = {i: (s, crash_run.final[i].get("error")) for i, s in statuses.items() if s != "completed"}
    assert not_done == {}, f"seed {crash_run.seed}"


def test_the_kills_landed_while_jobs_were_worked_on(crash_run: CrashRun) -> None:
    assert len(crash_run.kills) == KILLS
    hit = [k for k in crash_run.kills if k.synthesizing or k.stored or k.completed_unacked]
    assert KILLS == 0 or hit, f"no kill found a job in flight (seed {crash_run.seed})"


def test_each_job_completed_once_with_one_object_of_its_size(crash_run: CrashRun) -> None:
    assert all(n == 1 for n in crash_run.completions_logged.values()), crash_run.completions_logged
    keys = crash_run.keys_before_sweep
    assert len(keys) == len(set(keys))
    expected = {j["jobId"]: j for j in crash_run.final.values() if j.get("status") == "completed"}
    audio = [k for k in keys if k.startswith("audio/")]
    assert sorted(Path(k).stem for k in audio) == sorted(expected)
    for job_id, job in expected.items():
        assert crash_run.audio_lengths[job_id] == job["sizeBytes"] > 44, job_id


def test_nothing_stray_after_the_reaper_sweep(crash_run: CrashRun) -> None:
    assert not crash_run.reaper.get("errors"), crash_run.reaper
    expected = sorted(Path(k).name for k in crash_run.keys_before_sweep if k.startswith("audio/"))
    assert sorted(Path(k).name for k in crash_run.keys_after_sweep) == expected
    assert [k for k in crash_run.keys_after_sweep if not k.startswith("audio/")] == []
