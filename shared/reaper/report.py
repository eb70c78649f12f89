"""What a reaper run did (or, in a dry run, would have done): one JSON log line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_ERRORS = 20


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


@dataclass
class ReaperReport:
    run_id: str = ""
    dry_run: bool = False
    lease_held: bool = False  # another run held the lease: this one did nothing
    # purge: expired jobs lose their audio, then their rows
    expired_jobs: int = 0
    deleted_objects: int = 0
    deleted_jobs: int = 0
    # repair: stuck jobs
    stuck_jobs: int = 0
    resent_jobs: int = 0
    requeued_jobs: int = 0
    failed_jobs: int = 0
    repair_conflicts: int = 0  # the job moved on between read and repair: left alone
    # sweep: orphaned objects
    sweep: str = "skipped"  # ran | waiting (pass interval) | skipped
    scanned_objects: int = 0
    looked_up_jobs: int = 0
    orphan_objects: int = 0
    deleted_orphans: int = 0
    aborted_uploads: int = 0  # multipart uploads of long jobs whose upload record was an orphan
    kept_objects: int = 0
    expired_cache_entries: int = 0  # synthesis cache entries past their expiresAt (among the orphans deleted)
    cursor: str | None = None
    sweep_pass_complete: bool = False
    # the run
    calls: dict[str, int] = field(default_factory=dict)
    phase_ms: dict[str, int] = field(default_factory=dict)
    budget_exhausted: bool = False
    errors: list[str] = field(default_factory=list)
    duration_ms: int = 0

    def error(self, where: str, exc: BaseException) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{where}: {type(exc).__name__}: {exc}"[:500])

    def to_json_dict(self) -> dict[str, Any]:
        """camelCase keys, as every JSON edge of the project."""
        return {_camel(k): v for k, v in asdict(self).items()}
