"""Per-tenant rate limit on job creation: the port, its rule, and the local counter.

On Cloudflare the Workers Rate Limiting binding (``[[ratelimits]]``,
``limit({key})``) counts; locally ``FixedWindowCounter`` does, with the same
semantics: at most ``limit`` calls per key in each ``period``-second window
(10 or 60, the periods the binding accepts). The binding's counts are per
Cloudflare location and eventually consistent, so treat the limit as a guard
against floods, not as exact billing; the local counter is exact and kept in
memory (a restart forgets it, as a new window would).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from shared.ports import Clock


@dataclass(frozen=True)
class RateLimitDecision:
    allowed: bool
    retry_after: int = 0  # seconds until a retry may succeed (when not allowed)


class RateLimiter(Protocol):
    """``env.JOB_RATE_LIMITER`` on Cloudflare, ``LocalRateLimiter`` locally."""

    async def limit(self, key: str) -> RateLimitDecision: ...


def job_creation_key(tenant: str) -> str:
    return f"jobs:{tenant}"


@dataclass
class FixedWindowCounter:
    limit: int
    period: int
    clock: Clock
    _counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # key -> (window, count)

    def hit(self, key: str) -> RateLimitDecision:
        now = self.clock()
        window = int(now // self.period)
        seen_window, count = self._counts.get(key, (window, 0))
        if seen_window != window:
            count = 0
        if len(self._counts) > 10_000:  # forget finished windows
            self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
        if count >= self.limit:
            self._counts[key] = (window, count)
            return RateLimitDecision(False, max(1, math.ceil((window + 1) * self.period - now)))
        self._counts[key] = (window, count + 1)
        return RateLimitDecision(True)
