"""The reaper Worker's dependencies: its bindings, through ``shared.bootstrap``."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.wiring import common_ports, settings
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import bootstrap
from shared.dependencies import Dependencies


def reaper_dependencies(env: Any) -> Dependencies:
    return bootstrap(**common_ports(env, settings(env)), webhook_queue=webhook_queue(env))
