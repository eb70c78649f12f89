"""Where a job's word timings are in R2: derived from the job, never stored (light: the reaper imports it).

A job with inputs always has the object: its chapters are there (words only when it asked for them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.keys import timings_key

if TYPE_CHECKING:
    from shared.models import JobRecord

__all__ = ["timings_key_of"]


def timings_key_of(record: JobRecord) -> str | None:
    """The key of the job's timings (``shared.keys.timings_key``), or None when it has none."""
    return timings_key(record.job_id, record.created_at) if record.timestamps or record.input_count else None
