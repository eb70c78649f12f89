"""The api Worker's ports: its bindings, for ``shared.bootstrap.Pipeline``."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.ratelimit import WorkersRateLimiter
from cloudflare_adapters.wiring import common_ports
from cloudflare_adapters.wiring_catalogue import catalogue
from shared.bootstrap import Pipeline


def api_pipeline(env: Any) -> Pipeline:
    ports = common_ports(env)
    # JOB_RATE_LIMITER ([[ratelimits]]) counts; JOB_RATE_LIMIT gives its Retry-After period.
    limiter = getattr(raw_binding(env), "JOB_RATE_LIMITER", None)
    return Pipeline(
        replace(
            ports,
            catalogue=lambda: catalogue(env, ports.settings),
            rate_limiter=(lambda limit, period: WorkersRateLimiter(limiter, period)) if limiter is not None else None,
        )
    )
