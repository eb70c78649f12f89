"""Idempotency-Key: a repeat of a keyed submission gets the first job back, a different body a 422.

A keyed job lives on its key's shard (``job_id_in_shard``), so one lookup finds it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable

from shared.api.errors import ApiError
from shared.http import HttpRequest
from shared.jobs.sharding import shard_for
from shared.models import CreateJobRequest, JobRecord

IDEMPOTENCY_HEADER = "Idempotency-Key"
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
MAX_ID_DRAWS = 10_000


def idempotency_key(request: HttpRequest) -> str | None:
    """The request's ``Idempotency-Key`` (1-255 visible ASCII characters), or None."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    if not _IDEMPOTENCY_KEY.match(raw):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 1-255 visible ASCII characters",
            field=IDEMPOTENCY_HEADER,
        )
    return raw


def scoped_key(tenant: str, key: str) -> str:
    """What the shard stores: the key hashed with its tenant (scoped, fixed size, never the raw key)."""
    return hashlib.sha256(f"{tenant}\n{key}".encode()).hexdigest()


def request_fingerprint(body: CreateJobRequest) -> str:
    """A repeat "with the same body" means the same validated fields, whatever the JSON spacing or key order."""
    canonical = json.dumps(body.to_json_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def job_id_in_shard(new_job_id: Callable[[], str], shard: str, shard_count: int) -> str:
    """A fresh random id that lives on ``shard``: a keyed job must be found by its key's shard."""
    for _ in range(MAX_ID_DRAWS):
        job_id = new_job_id()
        if shard_for(job_id, shard_count) == shard:
            return job_id
    raise RuntimeError(f"no job id for {shard} after {MAX_ID_DRAWS} draws")


def replay(record: JobRecord, fingerprint: str, key: str) -> None:
    """Raise the 422 when a key comes back with a different body; return when it is a true repeat."""
    if record.request_hash != fingerprint:
        raise ApiError(
            422,
            "idempotency_conflict",
            f"{IDEMPOTENCY_HEADER} {key[:64]!r} was already used for job {record.job_id} with a different"
            " request body; send the same body to get that job back, or use a new key",
            field=IDEMPOTENCY_HEADER,
            extra={"jobId": record.job_id},
        )
