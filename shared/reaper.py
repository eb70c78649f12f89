"""The reaper: deletes what has outlived its time (backstop to R2 lifecycle rules).

Per run, shard by shard: expired jobs lose their audio first, then their
metadata, so a crash in between leaves at most an orphan object.
"""

from __future__ import annotations

import time as _time
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.config import Settings
from shared.jobs.rpc import JobsClient
from shared.logs import JsonLogger
from shared.ports import BlobStore, Clock, QueueProducer

PAGE = 500


@dataclass
class ReaperDeps:
    jobs: JobsClient
    bucket: BlobStore
    queue: QueueProducer
    settings: Settings
    clock: Clock
    log: JsonLogger


@dataclass
class ReaperReport:
    dry_run: bool = False
    expired_jobs: int = 0
    deleted_objects: int = 0
    deleted_jobs: int = 0
    errors: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def to_json_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): v for k, v in data.items()}


async def purge_expired(deps: ReaperDeps, report: ReaperReport) -> None:
    now = deps.clock()
    for shard in deps.jobs.shards():
        while True:
            expired = await deps.jobs.expired(shard, now, PAGE)
            if not expired:
                break
            report.expired_jobs += len(expired)
            if report.dry_run:
                break
            keys = [r.audio_key for r in expired if r.audio_key]
            for start in range(0, len(keys), 1000):
                await deps.bucket.delete(keys[start : start + 1000])
            report.deleted_objects += len(keys)
            report.deleted_jobs += await deps.jobs.delete([r.job_id for r in expired], shard=shard)
            if len(expired) < PAGE:
                break


async def run_reaper(deps: ReaperDeps) -> ReaperReport:
    started = _time.monotonic()
    report = ReaperReport(dry_run=deps.settings.reaper_dry_run)
    try:
        await purge_expired(deps, report)
    except Exception as exc:  # the next run finishes what this one could not
        report.errors.append(f"{type(exc).__name__}: {exc}")
    report.duration_ms = int((_time.monotonic() - started) * 1000)
    deps.log.info("reaper_run", **report.to_json_dict())
    return report
