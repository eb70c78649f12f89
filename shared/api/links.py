"""The base of the absolute links the API returns (``resultUrl``, ``audioUrl``).

``PUBLIC_BASE_URL`` when set; otherwise the request's base URL, which a
runtime takes from what it trusts, never from the client's ``Host`` header:
the address the local server was bound to (local_runtime/server.py), the
bound address passed as ``PUBLIC_BASE_URL`` to ``tts-pipeline dev --runtime
workerd`` (tooling/workerd/runner.py), or on Cloudflare the URL of a route
Cloudflare sent to this Worker. Even then only plain ``hostname[:port]``
syntax (DNS labels, an IPv4 address or a bracketed IPv6 address; a port
1-65535) is used; anything else gives relative links. Serving beyond
loopback requires ``PUBLIC_BASE_URL`` (``require_public_base_url``; both
dev runtimes call it at start).
"""

from __future__ import annotations

from dataclasses import replace

import ipaddress
from typing import TYPE_CHECKING

from shared.errors import ConfigError
from shared.security.hosts import valid_base_url

if TYPE_CHECKING:
    from shared.config import Settings


def link_base(settings: Settings, request_base_url: str) -> str:
    """``PUBLIC_BASE_URL``, else the request's base if it is well-formed, else "" (relative links)."""
    if settings.public_base_url:
        return settings.public_base_url
    return request_base_url if valid_base_url(request_base_url) else ""


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dev_server_settings(settings: Settings, host: str) -> Settings:
    """The rules of ``tts-pipeline dev`` (both runtimes) for serving on ``host``.

    Without ``API_TOKENS`` only loopback may be served, and then anonymously
    (``allow_anonymous``); beyond loopback ``PUBLIC_BASE_URL`` is required.
    Raises ``ConfigError`` naming what to set.
    """
    if not settings.api_tokens:
        if not is_loopback_host(host):
            raise ConfigError(f"API_TOKENS must be set to serve on {host}: only loopback may run without tokens")
        settings = replace(settings, allow_anonymous=True)
    require_public_base_url(settings, host)
    return settings


def require_public_base_url(settings: Settings, host: str) -> None:
    """Raise ``ConfigError`` when serving on a non-loopback ``host`` without ``PUBLIC_BASE_URL``."""
    if not is_loopback_host(host) and not settings.public_base_url:
        raise ConfigError(
            f"PUBLIC_BASE_URL must be set to serve on {host}: beyond loopback the Host header"
            " cannot be trusted for the links the API returns (for example PUBLIC_BASE_URL=https://tts.example.com)"
        )
