"""The Workers Rate Limiting binding (``[[ratelimits]]``) as a ``RateLimiter``."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.convert import raw_binding, to_js_value
from shared.security.ratelimit import RateLimitDecision


class WorkersRateLimiter:
    """``await env.JOB_RATE_LIMITER.limit({key})`` -> ``{success}``.

    The binding does not say when its window ends, so a refusal's
    ``retry_after`` is the configured period (``JOB_RATE_LIMIT``'s, which
    must match the binding's ``simple.period``).
    """

    def __init__(self, binding: Any, period: int) -> None:
        self._binding = raw_binding(binding)
        self._period = period

    async def limit(self, key: str) -> RateLimitDecision:
        outcome = await self._binding.limit(to_js_value({"key": key}))
        if bool(getattr(outcome, "success", False)):
            return RateLimitDecision(True)
        return RateLimitDecision(False, self._period)
