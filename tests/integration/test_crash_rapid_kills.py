"""A kill -9 every 0.2-1.2 s while jobs keep arriving, with the shipped defaults: none failed, lost or doubled.

The runtime is started, and a uniform(0.2, 1.2) s after each start its whole
process group is killed and it is started again on the same data dir, KILLS
times. Meanwhile a client thread keeps submitting N jobs (tone and espeak,
20 to 3,000 characters; a quarter before the first kill, the rest spread
over the runtime's lives as fast as they are answered) the way a careful client
does: each with its own ``Idempotency-Key``, retried with that key until it
gets its answer (a refused connection, a reset, a timeout or a 5xx is tried
again, on whichever runtime is up). So some submissions are cut by a kill
after the job was written: the retry must get that same job back (a replay),
and the outbox must get it sent. Before each restart the dead process's
files say where the kill landed. Then:

- every job ends ``completed``, none ``failed``, none lost: one job per key,
  each retry of a key answered with the same job, and the shards hold
  exactly those jobs (no job made twice);
- each completed once (at most one ``job_completed`` in the logs the
  processes managed to write) with exactly one object, its audio, of the
  job's ``sizeBytes``;
- after the reaper's run (``GET /__scheduled``) the bucket holds exactly
  those objects: nothing stray under ``audio/`` or ``tmp/``;
- measured, not asserted (a shared machine's load sets it): the time from
  the last restart to the completion of the jobs in flight at the last
  kill, and for every job in flight at any kill, from the restart after
  its last kill; with how many jobs were still to do at the last restart.

CI runs 30 jobs and 4 kills. The long run (``TTS_CRASH_SEED`` repeats a run,
``TTS_CRASH_REPORT=path.json`` writes the figures; every process's log is left
beside the run's data dir, ``<tmp>/rapid0-runtime.log``; the same variables size
the wave test in ``test_crash_recovery.py``):

    TTS_CRASH_JOBS=200 TTS_CRASH_KILLS=25 .venv/bin/python -m pytest -q -s \\
        -p no:cacheprovider tests/integration/test_crash_rapid_kills.py -k "not workerd"
"""

from __future__ import annotations

import json
import os
import random
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPException
from pathlib import Path
from typing import Any

import pytest

from tests.integration.crash_support import Kill, census, logged_events, shard_jobs, text_for, timestamp
from tests.integration.harness import Pipeline

JOBS = int(os.environ.get("TTS_CRASH_JOBS", "30"))
KILLS = int(os.environ.get("TTS_CRASH_KILLS", "4"))
SEED = int(os.environ.get("TTS_CRASH_SEED", str(time.time_ns() % 1_000_000)))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.local_only(
        "Miniflare's queue broker keeps messages in memory (a JS array, not storage): a kill -9 loses "
        "every queued and in-flight message, and with the defaults only the reaper's repair after "
        "REAPER_STUCK_SECONDS (900 s) would bring those jobs back; the kill census also reads the "
        "local runtime's SQLite files"
    ),
]


@dataclass
class Submission:
    key: str
    body: dict[str, Any]
    job_id: str | None = None
    tries: int = 0
    replays: int = 0  # answers 200 Idempotent-Replayed (the job existed: an earlier try was cut)
    answers: list[int] = field(default_factory=list)  # every HTTP status it got
    ids_seen: set[str] = field(default_factory=set)


class Client:
    """Submits every job, each until answered, to whichever runtime is up; paced over the kills."""

    def __init__(self, submissions: list[Submission], rng: random.Random) -> None:
        self.submissions = submissions
        self.rng = rng
        self.port: int | None = None
        self.allowed = 0  # submit jobs [0, allowed) now
        self.lock = threading.Condition()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def up(self, port: int | None, allowed: int) -> None:
        with self.lock:
            self.port = port
            self.allowed = max(self.allowed, allowed)
            self.lock.notify_all()

    def _run(self) -> None:
        try:
            for n, sub in enumerate(self.submissions):
                with self.lock:
                    self.lock.wait_for(lambda n=n: n < self.allowed)  # type: ignore[misc]
                while sub.job_id is None:
                    self._try(sub)
                time.sleep(self.rng.uniform(0.0, 0.15))  # jobs keep arriving through each life
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)

    def _try(self, sub: Submission) -> None:
        with self.lock:
            port = self.port
        if port is None:
            time.sleep(0.02)
            return
        sub.tries += 1
        conn = HTTPConnection("127.0.0.1", port, timeout=15)
        try:
            conn.request("POST", "/v1/jobs", body=json.dumps(sub.body).encode(),
                         headers={"Content-Type": "application/json", "Idempotency-Key": sub.key})
            response = conn.getresponse()
            body = response.read()
        except (OSError, HTTPException):
            time.sleep(0.05)  # refused, reset or cut by a kill: try again with the same key
            return
        finally:
            conn.close()
        sub.answers.append(response.status)
        if response.status in (200, 202):
            job_id = json.loads(body)["jobId"]
            sub.ids_seen.add(job_id)
            sub.replays += int(response.getheader("Idempotent-Replayed") == "true")
            sub.job_id = job_id
        elif response.status >= 500 or response.status == 429:
            time.sleep(0.1)
        else:
            raise AssertionError(f"submission {sub.key}: {response.status} {body[:300]!r}")


@dataclass
class RapidRun:
    seed: int
    submissions: list[Submission]
    final: dict[str, dict[str, Any]]
    kills: list[Kill]
    uptimes: list[float]
    rows: dict[str, str]  # every job row in the shards at the end
    keys_before_sweep: list[str]
    keys_after_sweep: list[str]
    reaper: dict[str, Any]
    audio_lengths: dict[str, int]
    completions_logged: dict[str, int]
    log_events: dict[str, int]
    seconds: float


def plan(rng: random.Random, models: list[str]) -> list[Submission]:
    cycle = ["tone", "espeak", "tone"] if "espeak" in models else ["tone"]
    out = []
    for n in range(JOBS):
        model = cycle[n % len(cycle)]
        # One in eight a long tone job (about 0.3 s of synthesis, 8 MB to put), so kills find work in flight.
        chars = 3000 if model == "tone" and rng.random() < 0.125 else rng.randint(20, 1200 if model == "tone" else 1500)
        out.append(Submission(key=uuid.UUID(int=rng.getrandbits(128)).hex,
                              body={"text": text_for(rng, chars), "model": model}))
    return out


def run(data_dir: Path, runtime: str) -> RapidRun:
    rng = random.Random(SEED)
    started = time.monotonic()
    pipelines = [Pipeline(data_dir, runtime=runtime).start()]
    models = [m["id"] for m in pipelines[0].request("GET", "/v1/models").json()["models"]]
    submissions = plan(rng, models)
    client = Client(submissions, random.Random(rng.random()))
    client.thread.start()
    # A quarter of the jobs are there before the first kill (a backlog every restart finds), the rest
    # keep arriving over the runtime's lives.
    backlog = JOBS // 4
    per_life = -(-(JOBS - backlog) // (KILLS + 1))
    kills: list[Kill] = []
    uptimes: list[float] = []
    try:
        for life in range(KILLS):
            client.up(pipelines[-1].port, backlog + per_life * (life + 1))
            uptime = rng.uniform(0.2, 1.2)
            time.sleep(uptime)
            uptimes.append(uptime)
            client.up(None, 0)
            kill = Kill(at=time.time(), restarted=0.0)
            pipelines[-1].kill()
            census(data_dir, kill)
            kill.restarted = time.time()
            pipelines.append(Pipeline(data_dir, runtime=runtime).start())
            kills.append(kill)
        last = pipelines[-1]
        client.up(last.port, JOBS)
        client.thread.join(timeout=300)
        assert not client.thread.is_alive(), "the client could not submit every job in 300 s"
        assert not client.errors, client.errors
        deadline = time.monotonic() + 300  # for them all: a job that never runs costs this once
        final = {s.job_id: last.wait(s.job_id, timeout=max(1.0, deadline - time.monotonic()))
                 for s in submissions if s.job_id}
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
        client.up(None, JOBS)
        pipelines[-1].stop()
        # Every process's log, in order, beside the data dir: what to read when a check fails.
        with open(data_dir.parent / f"{data_dir.name}-runtime.log", "w") as logs:
            for life, pipeline in enumerate(pipelines):
                logs.write(f"--- life {life}\n")
                logs.writelines(pipeline.log_lines)
    events, completions = logged_events(pipelines)
    return RapidRun(
        seed=SEED, submissions=submissions, final=final, kills=kills, uptimes=uptimes, rows=shard_jobs(data_dir),
        keys_before_sweep=keys_before, keys_after_sweep=keys_after, reaper=reaper, audio_lengths=lengths,
        completions_logged=completions, log_events=events, seconds=time.monotonic() - started,
    )


def recovery_seconds(result: RapidRun) -> dict[str, float]:
    """For each job in flight at a kill: the restart after its last such kill -> its completedAt."""
    latest: dict[str, float] = {}
    for kill in result.kills:
        for job_id in kill.synthesizing + kill.stored:
            latest[job_id] = kill.restarted
    out = {}
    for job_id, restarted in latest.items():
        done = result.final.get(job_id, {}).get("completedAt")
        out[job_id] = timestamp(done) - restarted if done else float("inf")
    return out


@pytest.fixture(scope="module")
def rapid_run(runtime: str, tmp_path_factory: pytest.TempPathFactory) -> RapidRun:
    result = run(tmp_path_factory.mktemp("rapid"), runtime)
    waits = sorted(recovery_seconds(result).values())
    last_kill = result.kills[-1] if result.kills else None
    last_in_flight = set(last_kill.synthesizing + last_kill.stored) if last_kill else set()
    figures = {
        "seed": result.seed, "jobs": len(result.submissions), "kills": len(result.kills),
        "uptimeBeforeKillMean": round(statistics.mean(result.uptimes), 2) if result.uptimes else None,
        "submitTries": sum(s.tries for s in result.submissions),
        "idempotentReplays": sum(s.replays for s in result.submissions),
        "answers5xx": sum(1 for s in result.submissions for a in s.answers if a >= 500),
        "killedDuringSynthesisOrPut": sum(len(k.synthesizing) for k in result.kills),
        "killedBetweenPutAndComplete": sum(len(k.stored) for k in result.kills),
        "killedBetweenCompleteAndAck": sum(len(k.completed_unacked) for k in result.kills),
        "killsWithWorkInFlight": sum(1 for k in result.kills if k.synthesizing or k.stored or k.completed_unacked),
        "inFlightJobsRecovered": len(waits),
        "restartToCompletionP50": round(statistics.median(waits), 2) if waits else None,
        "restartToCompletionMax": round(max(waits), 2) if waits else None,
        "lastRestartToInFlightDoneMax": round(max(
            (timestamp(result.final[j]["completedAt"]) - last_kill.restarted for j in last_in_flight
             if result.final.get(j, {}).get("completedAt")), default=0.0), 2) if last_kill else None,
        "jobsLeftAtLastRestart": sum(1 for j in result.final.values() if j.get("completedAt") and last_kill
                                     and timestamp(j["completedAt"]) > last_kill.restarted),
        "statuses": {s: sum(1 for j in result.final.values() if j.get("status") == s)
                     for s in sorted({str(j.get("status")) for j in result.final.values()})},
        "events": {e: result.log_events.get(e, 0) for e in (
            "redelivered_in_flight", "outbox_replay", "outbox_resent", "lease_held_deferred", "lease_held", "lease_lost",
            "dead_letter_resent", "chunk_held_deferred", "job_dead_lettered", "job_retry")},
        "seconds": round(result.seconds, 1),
    }
    print(f"\nrapid crash run: {json.dumps(figures)}")
    if os.environ.get("TTS_CRASH_REPORT"):
        Path(os.environ["TTS_CRASH_REPORT"]).write_text(json.dumps(figures, indent=2) + "\n")
    return result


def test_every_job_completes_none_fails_none_lost(rapid_run: RapidRun) -> None:
    assert all(s.job_id for s in rapid_run.submissions)
    not_done = {i: (j.get("status"), j.get("error")) for i, j in rapid_run.final.items() if j.get("status") != "completed"}
    assert not_done == {}, f"seed {rapid_run.seed}"
    assert len(rapid_run.final) == JOBS


def test_no_job_made_twice_by_the_retries(rapid_run: RapidRun) -> None:
    assert all(len(s.ids_seen) == 1 for s in rapid_run.submissions), f"seed {rapid_run.seed}"
    ids = [s.job_id for s in rapid_run.submissions]
    assert len(set(ids)) == JOBS
    assert sorted(rapid_run.rows) == sorted(ids), "the shards hold a job no key answered with"


def test_the_kills_landed_while_jobs_were_worked_on(rapid_run: RapidRun) -> None:
    assert len(rapid_run.kills) == KILLS
    assert all(0.2 <= u <= 1.2 for u in rapid_run.uptimes)
    hit = [k for k in rapid_run.kills if k.synthesizing or k.stored or k.completed_unacked]
    assert KILLS == 0 or hit, f"no kill found a job in flight (seed {rapid_run.seed})"


def test_each_job_completed_once_with_one_object_of_its_size(rapid_run: RapidRun) -> None:
    assert all(n == 1 for n in rapid_run.completions_logged.values()), rapid_run.completions_logged
    keys = rapid_run.keys_before_sweep
    assert len(keys) == len(set(keys))
    expected = {j["jobId"]: j for j in rapid_run.final.values() if j.get("status") == "completed"}
    audio = [k for k in keys if k.startswith("audio/")]
    assert sorted(Path(k).stem for k in audio) == sorted(expected)
    for job_id, job in expected.items():
        assert rapid_run.audio_lengths[job_id] == job["sizeBytes"] > 44, job_id


def test_nothing_stray_after_the_reaper_sweep(rapid_run: RapidRun) -> None:
    assert not rapid_run.reaper.get("errors"), rapid_run.reaper
    expected = sorted(Path(k).name for k in rapid_run.keys_before_sweep if k.startswith("audio/"))
    assert sorted(Path(k).name for k in rapid_run.keys_after_sweep) == expected
    assert [k for k in rapid_run.keys_after_sweep if not k.startswith("audio/")] == []
