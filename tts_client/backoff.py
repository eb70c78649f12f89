"""Polling delays: exponential growth, a cap, and jitter.

"Equal jitter": each delay is drawn from ``[d/2, d]`` where ``d`` grows by
``factor`` up to ``max_delay``. Half the delay stays fixed so polling never
collapses into a busy loop; the random half spreads many clients apart.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.25
    factor: float = 1.6
    max_delay: float = 5.0
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.max_delay < self.initial or self.factor < 1:
            raise ValueError("need 0 < initial <= max_delay and factor >= 1")

    def delays(self) -> Iterator[float]:
        """An endless series of delays in seconds."""
        ceiling = self.initial
        while True:
            yield ceiling / 2 + self.random() * ceiling / 2
            ceiling = min(ceiling * self.factor, self.max_delay)
