"""Where a job's word timings are in R2: derived from the job, never stored (light: the reaper imports it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.keys import timings_key

if TYPE_CHECKING:
    from shared.models import JobRecord

__all__ = ["timings_key_of"]


def timings_key_of(record: JobRecord) -> str | None:
    """The key of the job's timings (``shared.keys.timings_key``), or None when it did not ask for them."""
    return timings_key(record.job_id, record.created_at) if record.timestamps else None
