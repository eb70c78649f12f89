"""The job state machine: which transitions are legal.

``queued -> processing -> completed | failed``; ``processing -> queued`` when
a transient failure hands the job back for a retry; ``queued -> failed`` when
the dead-letter queue gives up on it; ``canceled`` from ``queued`` or
``processing``. Terminal states never change.
"""

from __future__ import annotations

from shared.models import JobStatus

Q, P, C, F, X = (
    JobStatus.QUEUED,
    JobStatus.PROCESSING,
    JobStatus.COMPLETED,
    JobStatus.FAILED,
    JobStatus.CANCELED,
)

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    Q: frozenset({P, F, X}),
    P: frozenset({Q, C, F, X}),
    C: frozenset(),
    F: frozenset(),
    X: frozenset(),
}


def can_transition(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]
