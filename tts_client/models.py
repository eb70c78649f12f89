"""What the client reads and sends: the API's own pydantic models, plus two small views.

``JobView``, ``JobList``, ``CreateJobRequest`` and ``ErrorBody`` come from
``shared.models``, the same classes the server validates and serializes with.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from shared.models import (
    CamelModel,
    ChapterEntry,
    CreateJobRequest,
    JobInput,
    JobList,
    JobStatus,
    JobView,
    LexiconDocument,
    LexiconList,
    LexiconView,
    TimingsDocument,
    WordEntry,
)

__all__ = [
    "ChapterEntry", "CreateJobRequest", "Download", "JobInput", "JobList", "JobStatus", "JobView", "LexiconDocument", "LexiconList", "LexiconView",
    "ModelInfo", "Progress", "TimingsDocument", "WordEntry", "progress_of",
]


class ModelInfo(CamelModel):
    """One entry of ``GET /v1/models`` (lenient: new server fields are ignored)."""

    id: str
    provider: str = ""
    voices: list[str] = []
    default_voice: str | None = None
    formats: list[str] = []
    default_format: str | None = None
    max_input_chars: int | None = None
    description: str = ""
    sample_rates: list[int] = []
    default_sample_rate: int | None = None
    max_job_chars: int | None = None
    speed_range: list[float] | None = None
    supports_instructions: bool = False
    default: bool = False  # the model a job without ``model`` gets
    timestamps: str = "none"  # word timings: "exact", "estimated" or "none"
    timestamps_method: str = ""
    timestamps_formats: list[str] = []
    ssml: dict[str, Any] = {}  # what SSML and lexicons do on this model (docs/pronunciation.md)


class Progress(NamedTuple):
    done: int
    total: int

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else 0.0


class Download(NamedTuple):
    """What ``download()`` wrote: byte count and the audio's content type."""

    size_bytes: int
    content_type: str | None


def progress_of(job: JobView) -> Progress | None:
    """The job's chunk progress, when the server reports one (``progress: {done, total}``)."""
    raw: Any = getattr(job, "progress", None)
    if raw is None:
        extra = job.model_extra or {}
        raw = extra.get("progress")
    if raw is None:
        return None
    if isinstance(raw, dict):
        done, total = raw.get("done"), raw.get("total")
    else:
        done, total = getattr(raw, "done", None), getattr(raw, "total", None)
    if not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return None
    return Progress(done, total)
