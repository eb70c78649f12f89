"""R2 key layout: ``audio/<yyyy>/<mm>/<dd>/<jobId>.<ext>`` (creation date, UTC)."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from shared.errors import NoSuchUploadError

if TYPE_CHECKING:
    from shared.models import JobRecord
    from shared.ports import BlobInfo, BlobStore

AUDIO_PREFIX = "audio/"
# The audio, and the word timings beside it (``<jobId>.words.json``, same prefix, same retention).
_KEY = re.compile(r"^audio/(\d{4})/(\d{2})/(\d{2})/([0-9a-f]{32})\.([a-z0-9]{1,8}|words\.json)$")
TIMINGS_SUFFIX = ".words.json"


def audio_key(job_id: str, created_at: float, extension: str) -> str:
    day = datetime.fromtimestamp(created_at, tz=timezone.utc)
    return f"{AUDIO_PREFIX}{day:%Y/%m/%d}/{job_id}.{extension}"


def timings_key(job_id: str, created_at: float) -> str:
    """Where a job's word timings live: beside its audio, ``audio/<yyyy>/<mm>/<dd>/<jobId>.words.json``."""
    day = datetime.fromtimestamp(created_at, tz=timezone.utc)
    return f"{AUDIO_PREFIX}{day:%Y/%m/%d}/{job_id}{TIMINGS_SUFFIX}"


def job_id_from_key(key: str) -> str | None:
    """The job id an audio (or timings) key belongs to, or None for a key we did not write."""
    match = _KEY.match(key)
    return match.group(4) if match else None


# --- partial audio of long jobs ----------------------------------------------
# One object per synthesized chunk, kept so a retry resumes instead of paying
# for the chunks again: ``tmp/<jobId>/<plan>/<index>`` (the format is in the
# object's metadata). ``plan`` hashes what the chunks depend on (model, voice,
# format, rate, the chunk texts), so a retry under a different plan never
# reuses them. The consumer deletes a job's chunks once the job is completed
# or failed; the reaper deletes what a crash, a cancel or a changed plan left.
TMP_PREFIX = "tmp/"
_CHUNK_KEY = re.compile(r"^tmp/([0-9a-f]{32})/([0-9a-f]{16})/(\d{5})$")


def tmp_prefix(job_id: str) -> str:
    return f"{TMP_PREFIX}{job_id}/"


def chunk_key(job_id: str, plan: str, index: int) -> str:
    return f"{TMP_PREFIX}{job_id}/{plan}/{index:05d}"


def chunk_timings_key(job_id: str, plan: str, index: int) -> str:
    """A chunk's word timings, beside its audio (``parse_chunk_key`` does not take it for a chunk)."""
    return f"{chunk_key(job_id, plan, index)}{TIMINGS_SUFFIX}"


def parse_chunk_key(key: str) -> tuple[str, str, int] | None:
    """(job id, plan, chunk index) of a chunk key, or None for any other key."""
    match = _CHUNK_KEY.match(key)
    return (match.group(1), match.group(2), int(match.group(3))) if match else None


# The multipart upload that assembles a long job's chunks into its audio
# (``shared.synthesis.assembly``): a record of the upload, written once when it
# is created (``.../upload``, metadata ``uploadId`` and ``uploadKey``, so the
# reaper can abort it from a listing), and one record per uploaded part
# (``.../upload/<part>``, metadata ``etag``), each written once: a retry lists
# them and carries on after the last part. R2 takes at most one write a second
# to one key, so no record is rewritten per part.


def upload_record_key(job_id: str, plan: str) -> str:
    return f"{TMP_PREFIX}{job_id}/{plan}/upload"


def upload_part_record_key(job_id: str, plan: str, part_number: int) -> str:
    return f"{upload_record_key(job_id, plan)}/{part_number:05d}"


def object_metadata(record: JobRecord, now: float) -> dict[str, str]:
    """Custom metadata of a job's audio object, so the reaper can judge it from a listing."""
    return {
        "jobId": record.job_id,
        "tenant": record.tenant,
        "createdAt": f"{record.created_at:.3f}",
        # The job's expiry once completed now; the reaper still asks the
        # shard before deleting anything that may be live.
        "expiresAt": f"{now + record.ttl_seconds:.3f}",
    }


async def abort_recorded(bucket: BlobStore, record: BlobInfo) -> bool:
    """Abort the upload an upload record names (its listed metadata); False if it names none or the abort failed."""
    upload_id = record.custom_metadata.get("uploadId")
    upload_key = record.custom_metadata.get("uploadKey")
    if not upload_id or not upload_key:
        return False
    try:
        await bucket.abort_multipart_upload(upload_key, upload_id)
    except NoSuchUploadError:
        return True
    except Exception:  # noqa: BLE001 - the lifecycle rule aborts what this misses
        return False
    return True
