"""What one reaper run may spend: wall seconds and binding calls.

Every R2 call (list, delete), Durable Object RPC and queue send is a
subrequest on Cloudflare, and an invocation has a cap on those as well as on
CPU time (docs/reaper.md). The run checks the budget before each call it
could skip, and stops cleanly when the next step would not fit; the next
run carries on from where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

KINDS = ("list", "delete", "rpc", "send", "abort")


class Budget:
    """A run's caps, and the calls it made, by kind."""

    def __init__(
        self, max_seconds: float, max_operations: int, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_seconds = max_seconds
        self.max_operations = max_operations
        self._monotonic = monotonic
        self._started = monotonic()
        self.calls = {kind: 0 for kind in KINDS}
        self.ran_out = False

    @property
    def spent(self) -> int:
        return sum(self.calls.values())

    def elapsed(self) -> float:
        return self._monotonic() - self._started

    def take(self, kind: str, n: int = 1) -> None:
        """Count ``n`` calls of ``kind`` (made or about to be made)."""
        self.calls[kind] += n

    def allows(self, operations: int) -> bool:
        """Whether ``operations`` more calls fit; remembers when one did not."""
        fits = self.spent + operations <= self.max_operations and self.elapsed() < self.max_seconds
        if not fits:
            self.ran_out = True
        return fits

    def phase(self, share: float) -> Phase:
        """A view for one phase of the run: at most ``share`` of the whole budget,
        counted from now; what a phase leaves unused stays for the next."""
        return Phase(self, share)


class Phase:
    """A share of a ``Budget``; calls it takes count in the whole run."""

    def __init__(self, budget: Budget, share: float) -> None:
        self.budget = budget
        self._ops_limit = budget.spent + int(budget.max_operations * share)
        self._time_limit = budget.elapsed() + budget.max_seconds * share

    def take(self, kind: str, n: int = 1) -> None:
        self.budget.take(kind, n)

    def allows(self, operations: int) -> bool:
        fits = self.budget.spent + operations <= self._ops_limit and self.budget.elapsed() < self._time_limit
        if not fits:
            self.budget.ran_out = True
            return False
        return self.budget.allows(operations)
