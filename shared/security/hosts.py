"""URL authority syntax: what a Host header or PUBLIC_BASE_URL may look like before it goes into a link."""

from __future__ import annotations

import ipaddress
import re

_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_BASE = re.compile(r"(https?)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?")
_PATH = re.compile(r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@-]*)*")  # no quotes, <, >, ?, #, % or spaces


def is_valid_authority(host: str, port: str | None) -> bool:
    """``host[:port]`` as a URL authority: DNS labels, IPv4 or [IPv6]; port 1-65535; nothing else."""
    if port is not None and not 0 < int(port) < 65536:
        return False
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(host[1:-1])
        except ValueError:
            return False
        return True
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def valid_base_url(base_url: str, *, allow_path: bool = False) -> bool:
    """Whether ``base_url`` is ``http(s)://hostname[:port]`` (and, with ``allow_path``, a plain path)."""
    match = _BASE.match(base_url)
    if match is None or not is_valid_authority(match.group(2), match.group(3)):
        return False
    rest = base_url[match.end():]
    return rest == "" or (allow_path and _PATH.fullmatch(rest) is not None)
