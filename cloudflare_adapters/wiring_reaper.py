"""The reaper Worker's ports."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cloudflare_adapters.wiring import common_ports
from cloudflare_adapters.wiring_webhooks import webhook_queue
from shared.bootstrap import Pipeline


def reaper_pipeline(env: Any) -> Pipeline:
    return Pipeline(replace(common_ports(env), webhook_queue=webhook_queue(env)))
