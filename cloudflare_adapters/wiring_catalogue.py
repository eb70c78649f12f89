"""The model catalogue of a Worker that runs or offers synthesis (api, synth_consumer)."""

from __future__ import annotations

from typing import Any

from cloudflare_adapters.ai import AiBinding
from cloudflare_adapters.convert import raw_binding
from cloudflare_adapters.fetch import FetchHttpClient
from shared.config import Settings
from shared.synthesis.catalogue import Catalogue
from shared.synthesis.providers import build_catalogue


def catalogue(env: Any, config: Settings) -> Catalogue:
    # eSpeak needs a native library: never on Cloudflare. Workers AI goes
    # through the AI binding when the Worker has one (else the REST API, if
    # CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN are set).
    ai = getattr(raw_binding(env), "AI", None)
    return build_catalogue(config, http=FetchHttpClient(), ai=AiBinding(ai) if ai is not None else None)
