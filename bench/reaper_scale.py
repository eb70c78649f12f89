"""Scale note for the reaper: runs over a local bucket and job store at scale.

    /tmp/venv/bin/python bench/reaper_scale.py [--jobs 100000] [--orphans 10000] [--unbounded]

Seeds a local runtime (``SHARD_COUNT`` shards, default 4) with ``--jobs``
jobs and one object per job that has audio, plus ``--orphans`` objects whose
job is gone, then runs the reaper as the cron would (every 15 minutes of a
fake clock, default budget) until everything has been dealt with once: the
expired purged, the stuck repaired, one sweep pass over the bucket. With
``--unbounded`` one run without a budget does it all. Prints, per
run and in total: wall time, the reaper's own call counts (R2 list/delete,
Durable Object RPC, queue send) and the local meter's billable counts (R2
class A, Durable Object requests, SQL rows read/written). docs/reaper.md
turns these into Cloudflare costs.

Job mix (fractions of ``--jobs``): 50 % completed and expired (audio),
40 % completed and live (audio), 5 % queued with a lost message (stuck),
5 % failed after their audio was written (orphaned audio, job live until
its own expiry).

Between runs the bench plays the consumer for the messages the reaper
re-sent (it marks those jobs finished), so a repaired job is not found stuck
again. Seeding writes objects without fsync (it would take minutes and
measures nothing); the reaper runs use the bindings unchanged, and the meter
counts only what the reaper runs do.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from local_runtime.bindings.queue import Outcome, QueueConsumerConfig  # noqa: E402
from local_runtime.runtime import LocalRuntime  # noqa: E402
from shared.keys import object_metadata  # noqa: E402
from shared.jobs.shard import JobShard  # noqa: E402
from shared.keys import audio_key  # noqa: E402
from shared.models import JobRecord, JobStatus  # noqa: E402

DAY = 86_400
CRON_SECONDS = 15 * 60
METER_KEYS = ("r2.class_a", "r2.delete", "do.requests", "do.rows_read", "do.rows_written", "queue.write")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def job(n: int, status: JobStatus, created: float, **fields: Any) -> JobRecord:
    job_id = f"{n:032x}"
    if status is JobStatus.COMPLETED:
        fields.update(audio_key=audio_key(job_id, created, "wav"), mime_type="audio/wav", size_bytes=10, etag="e")
    return JobRecord(
        job_id=job_id, tenant=f"tenant-{n % 7}", status=status, text="", model="tone", format="wav",
        created_at=created, updated_at=fields.pop("updated_at", created), ttl_seconds=DAY, **fields,
    )


async def seed(rt: LocalRuntime, clock: Clock, jobs: int, orphans: int) -> dict[str, int]:
    t0 = clock.now
    shards = {name: JobShard(rt.namespace.get(name), clock) for name in rt.jobs.shards()}
    plan: list[tuple[JobRecord, bool, float]] = []  # record, has audio, upload time
    for n in range(jobs):
        kind = n % 20
        if kind < 10:  # completed two days ago, a one-day TTL: expired
            done = t0 - 2 * DAY
            plan.append((job(n, JobStatus.COMPLETED, done - 30, completed_at=done, expires_at=done + DAY,
                             updated_at=done, attempts=1), True, done))
        elif kind < 18:  # completed an hour ago: live
            done = t0 - 3600
            plan.append((job(n, JobStatus.COMPLETED, done - 30, completed_at=done, expires_at=done + DAY,
                             updated_at=done, attempts=1), True, done))
        elif kind < 19:  # queued an hour ago, message lost: stuck
            plan.append((job(n, JobStatus.QUEUED, t0 - 3600), False, 0))
        else:  # failed two hours ago after its audio was written: the audio is an orphan
            failed = t0 - 7200
            plan.append((job(n, JobStatus.FAILED, failed - 60, completed_at=failed, expires_at=failed + DAY,
                             updated_at=failed, attempts=4, error="gave up"), True, failed - 5))
    by_shard: dict[str, list[JobRecord]] = {}
    for record, _, _ in plan:
        by_shard.setdefault(rt.jobs.shard_of(record.job_id), []).append(record)
    for name, records in by_shard.items():
        shard, sql = shards[name], rt.namespace.get(name)
        for start in range(0, len(records), 2000):
            chunk = records[start : start + 2000]
            sql.transaction(lambda: [shard.create(r) for r in chunk])

    fsync = os.fsync
    os.fsync = lambda fd: None  # seeding only
    try:
        async def put(record: JobRecord, uploaded: float) -> None:
            clock.now = uploaded
            key = audio_key(record.job_id, record.created_at, "wav")
            await rt.bucket.put(key, b"RIFF-audio", content_type="audio/wav",
                                custom_metadata=object_metadata(record, uploaded))

        for record, has_audio, uploaded in plan:
            if has_audio:
                await put(record, uploaded)
        for n in range(orphans):  # jobs deleted long ago, their audio left behind
            gone = job(jobs + n, JobStatus.COMPLETED, t0 - 7200)
            await put(gone, t0 - 7200)
    finally:
        os.fsync = fsync
        clock.now = t0
    return {"jobs": jobs, "objects": rt.bucket.count()}


async def consume(rt: LocalRuntime, shards: dict[str, JobShard]) -> None:
    """Stand in for the consumer: every re-sent job is taken and finished."""
    config = QueueConsumerConfig(max_batch_size=100, max_batch_timeout=0)
    while batch := await rt.queue.pull_batch(config):
        for message in batch:
            body = message.body
            shard = shards[body["shard"]]
            record = shard.get(body["jobId"])
            if record is not None and not record.status.is_terminal:
                shard.fail(record.job_id, "bench: finished by the stand-in consumer")
        await rt.queue.settle_batch(batch, False, {m.id: Outcome.ack() for m in batch})


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="reaper-scale-"))
    if data_dir.exists() and any(data_dir.iterdir()):
        shutil.rmtree(data_dir)
    clock = Clock(1_900_000_000.0)
    env = {"SHARD_COUNT": str(args.shards), "JOB_TTL_SECONDS": str(DAY)}
    if args.unbounded:
        env.update(REAPER_MAX_OPERATIONS=str(10**9), REAPER_MAX_SECONDS=str(10**6))
    rt = LocalRuntime(data_dir, env, port=0, clock=clock, cron_interval=0, log_stream=io.StringIO())
    try:
        started = time.perf_counter()
        seeded = await seed(rt, clock, args.jobs, args.orphans)
        seed_seconds = time.perf_counter() - started
        meter = {k: 0 for k in METER_KEYS}
        shards = {name: JobShard(rt.namespace.get(name), clock) for name in rt.jobs.shards()}
        stuck = args.jobs // 20
        runs: list[dict[str, Any]] = []
        repaired = 0
        swept = False
        while len(runs) < args.max_runs:
            before = rt.meter.snapshot()
            t = time.perf_counter()
            report = await rt.scheduled()
            report["wallSeconds"] = time.perf_counter() - t
            after = rt.meter.snapshot()
            for k in METER_KEYS:
                meter[k] += after.get(k, 0) - before.get(k, 0)
            runs.append(report)
            await consume(rt, shards)
            repaired += report["resentJobs"] + report["requeuedJobs"] + report["failedJobs"]
            swept = swept or report["sweepPassComplete"]
            if report["expiredJobs"] == 0 and repaired >= stuck and swept:
                break
            clock.now += CRON_SECONDS
        return {
            "seeded": seeded,
            "seed_seconds": seed_seconds,
            "runs": runs,
            "meter": meter,
            "left": {"objects": rt.bucket.count()},
            "settings": {"shards": args.shards, "max_operations": rt.settings.reaper_max_operations,
                         "max_seconds": rt.settings.reaper_max_seconds},
        }
    finally:
        await rt.stop()
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


def judged(report: dict[str, Any]) -> int:
    """Objects one run judged: the expired jobs it purged (each with its object) and the
    objects its sweep listed and checked against their jobs."""
    return int(report["expiredJobs"]) + int(report["scannedObjects"])


def one_run(jobs: int, orphans: int, shards: int = 4) -> dict[str, Any]:
    """``python -m bench``'s reaper phase: seed, then one run at the default budget."""
    args = argparse.Namespace(jobs=jobs, orphans=orphans, shards=shards, max_runs=1, unbounded=False,
                              data_dir=None, keep=False)
    result = asyncio.run(measure(args))
    run = result["runs"][0]
    return {
        "jobs": jobs, "objects": result["seeded"]["objects"], "seed_seconds": result["seed_seconds"],
        "judged": judged(run), "expired": run["expiredJobs"], "scanned": run["scannedObjects"],
        "wall_seconds": run["wallSeconds"], "phase_ms": run["phaseMs"], "calls": run["calls"],
        "budget_exhausted": run["budgetExhausted"], "settings": result["settings"],
    }


def summary(result: dict[str, Any]) -> str:
    runs = result["runs"]
    total = {k: sum(r["calls"][k] for r in runs) for k in ("list", "delete", "rpc", "send")}
    walls = [r["wallSeconds"] for r in runs]
    lines = [
        f"seeded {result['seeded']['jobs']:,} jobs and {result['seeded']['objects']:,} objects"
        f" over {result['settings']['shards']} shards in {result['seed_seconds']:.0f} s",
        f"budget per run: {result['settings']['max_operations']} operations, {result['settings']['max_seconds']} s",
        "",
        "| run | wall s | purge / repair / sweep s | list | delete | rpc | send | expired = objects = rows deleted |"
        " stuck repaired | scanned | orphans deleted | budget out |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i, r in enumerate(runs, 1):
        c = r["calls"]
        repaired = r["resentJobs"] + r["requeuedJobs"] + r["failedJobs"]
        phases = " / ".join(f"{r['phaseMs'].get(p, 0) / 1000:.1f}" for p in ("purge", "repair", "sweep"))
        deleted = {r["expiredJobs"], r["deletedObjects"], r["deletedJobs"]}
        purged = f"{r['deletedJobs']:,}" if len(deleted) == 1 else (
            f"{r['expiredJobs']:,} / {r['deletedObjects']:,} / {r['deletedJobs']:,}")
        lines.append(
            f"| {i} | {r['wallSeconds']:.2f} | {phases} | {c['list']} | {c['delete']} | {c['rpc']} | {c['send']} |"
            f" {purged} | {repaired:,} | {r['scannedObjects']:,} | {r['deletedOrphans']:,} |"
            f" {'yes' if r['budgetExhausted'] else 'no'} |"
        )
    lines += [
        "",
        f"runs: {len(runs)}; wall time total {sum(walls):.1f} s, per run median {statistics.median(walls):.2f} s,"
        f" max {max(walls):.2f} s",
        f"reaper calls total: list {total['list']}, delete {total['delete']}, rpc {total['rpc']}, send {total['send']}",
        "meter: " + ", ".join(f"{k} {v:,}" for k, v in result["meter"].items()),
        f"objects left: {result['left']['objects']:,}",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--orphans", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--max-runs", type=int, default=100)
    parser.add_argument("--unbounded", action="store_true", help="one run with no budget")
    parser.add_argument("--data-dir")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON too")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    print(summary(result))
    if args.json:
        print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
