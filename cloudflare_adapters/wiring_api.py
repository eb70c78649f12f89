"""The api Worker's dependencies: its bindings, through ``shared.bootstrap``."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.ratelimit import WorkersRateLimiter
from cloudflare_adapters.wiring import common_ports, settings
from cloudflare_adapters.wiring_catalogue import catalogue
from shared.bootstrap import bootstrap
from shared.dependencies import Dependencies


def api_dependencies(env: Any) -> Dependencies:
    config = settings(env)
    # JOB_RATE_LIMITER ([[ratelimits]]) counts; JOB_RATE_LIMIT gives its Retry-After period.
    limiter = getattr(raw_binding(env), "JOB_RATE_LIMITER", None)
    return bootstrap(
        **common_ports(env, config),
        catalogue=lambda: catalogue(env, config),
        rate_limiter=(lambda limit, period: WorkersRateLimiter(limiter, period)) if limiter is not None else None,
    )
