from __future__ import annotations

from shared.reaper.budget import Budget


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_budget_allows_calls_up_to_its_cap_and_remembers_running_out() -> None:
    budget = Budget(max_seconds=10, max_operations=5, monotonic=Ticks())
    assert budget.allows(5)
    budget.take("list")
    budget.take("rpc", 3)
    assert budget.spent == 4 and budget.calls == {"list": 1, "delete": 0, "rpc": 3, "send": 0, "abort": 0}
    assert budget.allows(1) and not budget.ran_out
    assert not budget.allows(2) and budget.ran_out


def test_budget_runs_out_of_time() -> None:
    ticks = Ticks()
    budget = Budget(max_seconds=10, max_operations=100, monotonic=ticks)
    ticks.now = 10
    assert not budget.allows(1)


def test_a_phase_gets_its_share_and_leaves_the_rest_to_the_next() -> None:
    budget = Budget(max_seconds=10, max_operations=100, monotonic=Ticks())
    first = budget.phase(0.5)
    budget.take("rpc", 10)  # spent before the phase started
    assert first.allows(40) and not first.allows(51)
    first.take("rpc", 20)
    # The next phase starts from what is spent now; unused share passes on.
    rest = budget.phase(1.0)
    assert rest.allows(70) and not rest.allows(71)
    assert budget.spent == 30
