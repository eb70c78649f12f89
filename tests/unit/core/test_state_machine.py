from __future__ import annotations

import pytest

from shared.jobs.state import TRANSITIONS, can_transition
from shared.models import JobStatus

Q, P, C, F, X = (JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


@pytest.mark.parametrize("current,target", [(Q, P), (Q, F), (Q, X), (P, Q), (P, C), (P, F), (P, X)])
def test_legal_transitions(current: JobStatus, target: JobStatus) -> None:
    assert can_transition(current, target)


@pytest.mark.parametrize("terminal", [C, F, X])
def test_terminal_states_never_change(terminal: JobStatus) -> None:
    assert terminal.is_terminal
    assert all(not can_transition(terminal, t) for t in JobStatus)


def test_queued_cannot_complete_without_processing() -> None:
    assert not can_transition(Q, C)


def test_every_state_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(JobStatus)
