"""Errors of the reaper. Each says when it is raised."""

from __future__ import annotations

from shared.errors import PipelineError


class ReaperLeaseLostError(PipelineError):
    """Raised when a run finds that another run has taken its lease: it stops at once."""
