"""The Workers Rate Limiting binding, locally: a fixed-window counter in memory.

Same semantics as ``env.JOB_RATE_LIMITER.limit({key})`` on Cloudflare: at
most ``limit`` calls per key per ``period`` seconds (10 or 60).
"""

from __future__ import annotations

from shared.ports import Clock
from shared.security.ratelimit import FixedWindowCounter, RateLimitDecision


class LocalRateLimiter:
    """``shared.security.ratelimit.RateLimiter`` over ``FixedWindowCounter``."""

    def __init__(self, limit: int, period: int, clock: Clock) -> None:
        self._counter = FixedWindowCounter(limit, period, clock)

    async def limit(self, key: str) -> RateLimitDecision:
        return self._counter.hit(key)
