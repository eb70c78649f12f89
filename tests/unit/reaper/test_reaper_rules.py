"""The reaper's judgements, as pure functions: which object may go, what a stuck job needs."""

from __future__ import annotations

import pytest

from shared.config import Settings
from shared.models import JobRecord, JobStatus
from shared.ports import BlobInfo
from shared.reaper.repair import repair_action
from shared.reaper.sweep import Listing, by_listing, is_orphan, owner

NOW = 1_800_000_000.0
JOB = "a" * 32
KEY = f"audio/2027/01/15/{JOB}.wav"


def info(key: str = KEY, age: float = 10_000, **meta: str) -> BlobInfo:
    return BlobInfo(key, 10, "etag", NOW - age, "audio/wav", dict(meta))


def record(status: JobStatus, audio_key: str | None = None, **fields: object) -> JobRecord:
    base: dict[str, object] = {
        "job_id": JOB, "tenant": "t", "status": status, "model": "tone", "format": "wav",
        "created_at": NOW - 5000, "updated_at": NOW - 5000, "ttl_seconds": 3600, "audio_key": audio_key,
    }
    base.update(fields)
    return JobRecord.model_validate(base)


def test_owner_comes_from_the_key_then_from_valid_metadata() -> None:
    assert owner(info()) == JOB
    assert owner(info("audio/other/name.wav", jobId="b" * 32)) == "b" * 32
    assert owner(info("audio/other/name.wav", jobId="../../etc")) is None
    assert owner(info("audio/other/name.wav")) is None


@pytest.mark.parametrize(
    ("blob", "expected"),
    [
        (info(age=599), Listing.YOUNG),
        (info(age=601), Listing.ASK),
        (info("audio/x/stray.bin", age=601), Listing.FOREIGN),
        (info("audio/x/stray.bin", age=600 + 30 * 86_400 + 1), Listing.FOREIGN_EXPIRED),
        (info(f"tmp/{JOB}/0123456789abcdef/00003", age=601, jobId=JOB), Listing.ASK),
        (info("backups/db.sqlite", age=10 * 365 * 86_400), Listing.OTHER),
        # Synthesis cache entries: by their expiresAt alone, whichever job (even a live one) wrote them.
        (info(f"cache/t-{'b' * 32}/{'c' * 64}", age=601, jobId=JOB, expiresAt=f"{NOW + 1:.3f}"), Listing.FOREIGN),
        (info(f"cache/global/{'c' * 64}", age=601, jobId=JOB, expiresAt=f"{NOW:.3f}"), Listing.CACHE_EXPIRED),
        (info(f"cache/global/{'c' * 64}", age=599, expiresAt=f"{NOW - 5:.3f}"), Listing.YOUNG),
        (info(f"cache/global/{'c' * 64}", age=601), Listing.FOREIGN),  # no expiresAt: the longest retention
        (info(f"cache/global/{'c' * 64}", age=600 + 30 * 86_400), Listing.CACHE_EXPIRED),
    ],
)
def test_listing_alone_settles_young_and_foreign_objects(blob: BlobInfo, expected: Listing) -> None:
    assert by_listing(blob, NOW, grace=600, max_ttl=30 * 86_400) is expected


@pytest.mark.parametrize(
    ("job", "orphan"),
    [
        (None, True),
        (record(JobStatus.QUEUED), False),
        (record(JobStatus.PROCESSING), False),
        (record(JobStatus.COMPLETED, KEY), False),
        (record(JobStatus.COMPLETED, KEY.replace(".wav", ".mp3")), True),
        (record(JobStatus.FAILED), True),
        (record(JobStatus.CANCELED), True),
    ],
)
def test_an_object_is_an_orphan_only_once_its_job_is_gone_or_finished_without_it(
    job: JobRecord | None, orphan: bool
) -> None:
    assert is_orphan(KEY, job) is orphan


SETTINGS = Settings(reaper_stuck_seconds=900, max_lapsed_claims=4, reaper_give_up_seconds=86_400)


@pytest.mark.parametrize(
    ("job", "action"),
    [
        (record(JobStatus.QUEUED, updated_at=NOW - 899), None),
        (record(JobStatus.QUEUED, updated_at=NOW - 901), "resend"),
        (record(JobStatus.PROCESSING, lease_until=NOW - 899), None),
        (record(JobStatus.PROCESSING, lease_until=NOW - 901), "requeue"),
        (record(JobStatus.PROCESSING, lease_until=NOW - 901, attempts=9, lapses=4), "fail"),
        (record(JobStatus.PROCESSING, lease_until=NOW - 901, attempts=9, lapses=3), "requeue"),
        (record(JobStatus.QUEUED, updated_at=NOW - 901, created_at=NOW - 86_400), "fail"),
        (record(JobStatus.COMPLETED, KEY), None),
    ],
)
def test_stuck_job_repairs(job: JobRecord, action: str | None) -> None:
    decision = repair_action(job, NOW, SETTINGS)
    assert (decision[0] if decision else None) == action
