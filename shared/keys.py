"""R2 key layout: ``audio/<yyyy>/<mm>/<dd>/<jobId>.<ext>`` (creation date, UTC)."""

from __future__ import annotations

import re
from datetime import datetime, timezone

AUDIO_PREFIX = "audio/"
_KEY = re.compile(r"^audio/(\d{4})/(\d{2})/(\d{2})/([0-9a-f]{32})\.([a-z0-9]{1,8})$")


def audio_key(job_id: str, created_at: float, extension: str) -> str:
    day = datetime.fromtimestamp(created_at, tz=timezone.utc)
    return f"{AUDIO_PREFIX}{day:%Y/%m/%d}/{job_id}.{extension}"


def job_id_from_key(key: str) -> str | None:
    """The job id an audio key belongs to, or None for a key we did not write."""
    match = _KEY.match(key)
    return match.group(4) if match else None


def day_prefix(ts: float) -> str:
    day = datetime.fromtimestamp(ts, tz=timezone.utc)
    return f"{AUDIO_PREFIX}{day:%Y/%m/%d}/"
