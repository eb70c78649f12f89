"""Sweep: walk the bucket's job objects and delete the orphans.

Job objects are the final audio (``audio/...``) and the partial audio of
long jobs (``tmp/<jobId>/...``, chunks a retry resumes from). Synthesis
cache entries (``cache/<scope>/<hash>``, shared/synthesis/cache.py) belong to
no job: one is deleted once its ``expiresAt`` (metadata) has passed. An object is
an orphan when it is older than ``ORPHAN_GRACE_SECONDS`` and its job is
gone, or has finished without it (failed, canceled, or completed pointing
at another key; a finished job needs none of its chunks). The walk resumes from a cursor saved
between runs, so a bucket of millions of objects is covered over several
runs; a new pass starts at most every ``reaper_sweep_interval_seconds``.

Judging: the listing carries each object's upload time and custom metadata
(``jobId``, ``expiresAt``; an upload record's ``uploadId`` and ``uploadKey``,
which the sweep aborts before deleting the record), so most objects are settled from the listing
alone: too young to judge, or not ours at all. The rest are looked up in
their shards, one batched call per shard per page.

Never deleted, whatever the metadata says: an object whose job is still
queued or processing. A consumer working on that job may be writing the
same key right now (R2 deletes are unconditional), and deleting it could
remove the fresh audio the job is about to complete with. Those objects
wait until their job finishes; a stuck job is finished by the repair step.
A finished job can no longer have its key rewritten, so the judgement is
stable: deleting on it is safe even if it was made a moment ago.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from shared.captions.location import timings_key_of
from shared.dependencies import Dependencies
from shared.keys import AUDIO_PREFIX, abort_recorded, job_id_from_key
from shared.models import JOB_ID_PATTERN, JobRecord, JobStatus
from shared.platform_limits import R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST
from shared.ports import BlobInfo
from shared.reaper.budget import Phase
from shared.reaper.lease import RunLease
from shared.reaper.report import ReaperReport
from shared.synthesis.cache import CACHE_PREFIX, parse_expires_at

PAGE = min(R2_MAX_KEYS_PER_LIST, R2_MAX_KEYS_PER_DELETE)  # one list page, its orphans deleted in one call
CHUNK_PREFIX = "tmp/"  # partial audio of long jobs (shared.keys.chunk_key); judged like audio
# Synthesis cache entries (shared/synthesis/cache.py): judged from their listing alone (``expiresAt``).
SWEPT_PREFIXES = (AUDIO_PREFIX, CACHE_PREFIX, CHUNK_PREFIX)  # anything else in the bucket is not the reaper's
_JOB_ID = re.compile(JOB_ID_PATTERN)


class Listing(Enum):
    """What the listing alone says about an object."""

    OTHER = "other"  # outside the job prefixes: never touched
    YOUNG = "young"  # within the grace period: a put may not be completed yet
    FOREIGN_EXPIRED = "foreign_expired"  # not a job's key, older than any retention
    FOREIGN = "foreign"  # not a job's key, still within the longest retention
    ASK = "ask"  # a job's object: its shard decides
    CACHE_EXPIRED = "cache_expired"  # a synthesis cache entry past its expiresAt


def owner(info: BlobInfo) -> str | None:
    """The job an object belongs to: from its key, else from its metadata."""
    from_key = job_id_from_key(info.key)
    if from_key:
        return from_key
    meta = info.custom_metadata.get("jobId") or ""
    return meta if _JOB_ID.match(meta) else None


def by_listing(info: BlobInfo, now: float, grace: float, max_ttl: float) -> Listing:
    if not info.key.startswith(SWEPT_PREFIXES):
        return Listing.OTHER
    if info.uploaded > now - grace:
        return Listing.YOUNG
    if info.key.startswith(CACHE_PREFIX):
        # No job owns an entry (each job serves its own copy); it lives until its expiresAt, which
        # every job that writes it moves to its own retention. Unreadable: the longest retention.
        expires = parse_expires_at(info)
        if expires is None:
            expires = info.uploaded + grace + max_ttl
        return Listing.CACHE_EXPIRED if expires <= now else Listing.FOREIGN
    if owner(info) is None:
        # Nobody rewrites a key no job owns; anything older than the longest
        # retention (plus grace) has outlived every job it could serve.
        return Listing.FOREIGN_EXPIRED if info.uploaded <= now - grace - max_ttl else Listing.FOREIGN
    return Listing.ASK


def is_orphan(key: str, record: JobRecord | None) -> bool:
    """Whether an object (past its grace) may go, given its job's row."""
    if record is None:
        return True  # the job is gone: nothing will ever serve or rewrite it
    if not record.status.is_terminal:
        return False  # a consumer may be rewriting this key: wait until the job finishes
    if record.status is not JobStatus.COMPLETED:
        return True
    return key not in (record.audio_key, timings_key_of(record))


async def sweep_orphans(
    deps: Dependencies, report: ReaperReport, budget: Phase, lease: RunLease, state: dict[str, Any]
) -> None:
    """Sweep from ``state["cursor"]``; updates ``state`` (saved with each page)."""
    s = deps.settings
    now = deps.clock()
    cursor: str | None = state.get("cursor") or None
    if cursor is None:
        last = state.get("passStartedAt")
        if isinstance(last, (int, float)) and now - last < s.reaper_sweep_interval_seconds:
            report.sweep = "waiting"
            report.cursor = None
            return
        state["passStartedAt"] = now
    report.sweep = "ran"
    opaque: str | None = None  # R2's own cursor, only for an empty but truncated page
    per_page = 1 + s.shard_count + 1 + 1  # list, lookups, delete, lease renewal
    while budget.allows(per_page):
        budget.take("list")
        # One pass over the whole bucket covers audio/ and tmp/ (keys sort in that order).
        page = await deps.bucket.list(prefix="", start_after=cursor, cursor=opaque, limit=PAGE)
        report.scanned_objects += len(page.objects)
        await _judge_page(deps, report, budget, page.objects, now)
        if page.objects:
            cursor, opaque = page.objects[-1].key, None
        elif page.truncated:
            opaque = page.cursor
        if not page.truncated:
            cursor = None
            state["lastPassCompletedAt"] = now
            report.sweep_pass_complete = True
        state["cursor"] = cursor
        report.cursor = cursor
        await lease.checkpoint(state)
        if cursor is None and opaque is None:
            return
    report.cursor = cursor


async def _judge_page(
    deps: Dependencies, report: ReaperReport, budget: Phase, objects: list[BlobInfo], now: float
) -> None:
    s = deps.settings
    doomed: list[str] = []
    ask: dict[str, list[str]] = {}  # job id -> keys
    for info in objects:
        verdict = by_listing(info, now, s.orphan_grace_seconds, s.max_ttl_seconds)
        if verdict is Listing.ASK:
            ask.setdefault(owner(info) or "", []).append(info.key)
        elif verdict is Listing.FOREIGN_EXPIRED:
            doomed.append(info.key)
        elif verdict is Listing.CACHE_EXPIRED:
            doomed.append(info.key)
            report.expired_cache_entries += 1
        else:
            report.kept_objects += 1
    if ask:
        ids = list(ask)
        budget.take("rpc", len({deps.jobs.shard_of(i) for i in ids}))
        records = await deps.jobs.lookup(ids)
        report.looked_up_jobs += len(ids)
        for job_id, keys in ask.items():
            for key in keys:
                if is_orphan(key, records.get(job_id)):
                    doomed.append(key)
                else:
                    report.kept_objects += 1
    report.orphan_objects += len(doomed)
    if doomed and not report.dry_run:
        # An upload record (a long job's assembly, shared.synthesis.assembly) names a multipart
        # upload: abort it before its record goes (the lifecycle rule aborts what this misses).
        listed = {info.key: info for info in objects}
        for key in list(doomed):
            record = listed.get(key)
            if record is None or not record.custom_metadata.get("uploadKey"):
                continue
            if not budget.allows(2):  # keep the record for the next run rather than lose the upload's id
                doomed.remove(key)
                continue
            budget.take("abort")
            if await abort_recorded(deps.bucket, record):
                report.aborted_uploads += 1
        budget.take("delete")
        await deps.bucket.delete(doomed)
    report.deleted_orphans += len(doomed)  # in a dry run: would have deleted
