"""What a queue consumer decides for each message: ack it, or retry it after a delay.

Shared by the synth consumer, the dead-letter handler and webhook delivery;
kept apart from ``shared.consumer`` so that a Worker that only announces
webhooks (the reaper) does not load the synthesis code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from shared.platform_limits import QUEUE_MAX_DELAY_SECONDS


@dataclass(frozen=True)
class Ack:
    pass


@dataclass(frozen=True)
class Retry:
    delay_seconds: int


Outcome = Ack | Retry


@dataclass
class BatchOutcome:
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    def acked(self) -> list[str]:
        return [m for m, o in self.outcomes.items() if isinstance(o, Ack)]

    def retried(self) -> dict[str, int]:
        return {m: o.delay_seconds for m, o in self.outcomes.items() if isinstance(o, Retry)}


def backoff_seconds(attempts: int, base: int, retry_after: float | None = None) -> int:
    """Exponential backoff (base, 2*base, 4*base, ...), or the provider's ``Retry-After``."""
    if retry_after is not None and retry_after > 0:
        delay = math.ceil(retry_after)
    else:
        delay = base * (2 ** max(attempts - 1, 0))
    return int(min(max(delay, 0), QUEUE_MAX_DELAY_SECONDS))
