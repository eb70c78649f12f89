"""Which webhook URLs the service will call: the submit-time check (SSRF guard).

By default only ``https`` to public names and public IP literals. Refused:
userinfo (``user:pass@``), private, loopback, link-local (cloud metadata at
169.254.169.254), shared, multicast and reserved addresses in every spelling
a WHATWG URL parser accepts (``127.1``, ``0x7f.0.0.1``, ``2130706433``), and
inside every IPv6 form that carries an IPv4 address (mapped ``[::ffff:127.0.0.1]``,
compatible ``[::127.0.0.1]``, NAT64 ``[64:ff9b::a9fe:a9fe]``, 6to4 ``[2002:7f00:1::]``,
Teredo ``[2001:0:...]``), single-label names and names under internal
suffixes (``localhost``, ``.internal``, ``.local``, ...).

This does not resolve DNS: a public name that resolves to a private address
passes here. On Cloudflare, Workers' outbound fetches leave from Cloudflare's
edge, which has no route into your networks; the local runtime re-checks the
resolved addresses before each delivery (``resolved_addresses_allowed``).
``UrlPolicy.allowed_hosts`` exempts named hosts (the local test runtime sets
it for its loopback receiver; it is empty by default).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
INTERNAL_SUFFIXES = (
    "localhost", "local", "localdomain", "internal", "intranet", "lan", "home", "corp", "private",
    "home.arpa", "in-addr.arpa", "ip6.arpa", "test", "invalid", "onion",
)
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0x[0-9a-f]*)$")

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeUrlError(ValueError):
    """Raised when a webhook URL is refused; the message says why, for the client."""


@dataclass(frozen=True)
class UrlPolicy:
    schemes: frozenset[str] = frozenset({"https"})
    allowed_hosts: frozenset[str] = field(default_factory=frozenset)  # exempt from the address checks

    @classmethod
    def build(cls, schemes: Iterable[str], allowed_hosts: Iterable[str]) -> UrlPolicy:
        return cls(
            frozenset(s.strip().lower() for s in schemes if s.strip()),
            frozenset(h.strip().lower().strip("[]") for h in allowed_hosts if h.strip()),
        )


class WebhookUrlSettings(Protocol):
    """The settings a URL policy is made of (``shared.config.Settings`` has them)."""

    @property
    def webhook_schemes(self) -> Iterable[str]: ...
    @property
    def webhook_allowed_hosts(self) -> Iterable[str]: ...


def url_policy(settings: WebhookUrlSettings) -> UrlPolicy:
    """``WEBHOOK_ALLOWED_SCHEMES`` and ``WEBHOOK_ALLOWED_HOSTS`` as a policy."""
    return UrlPolicy.build(settings.webhook_schemes, settings.webhook_allowed_hosts)


def _whatwg_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """Parse a host as the WHATWG URL standard's IPv4 (decimal, octal, hex parts); None if it is not one."""
    parts = host.split(".")
    if parts and parts[-1] == "":
        parts.pop()
    if not parts or not _NUMERIC_LABEL.match(parts[-1]):
        return None
    if len(parts) > 4:
        raise UnsafeUrlError("host is not a valid IPv4 address")
    numbers: list[int] = []
    for part in parts:
        try:
            if part.startswith("0x"):
                numbers.append(int(part[2:] or "0", 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part, 8))
            else:
                numbers.append(int(part, 10))
        except ValueError as exc:
            raise UnsafeUrlError("host is not a valid IPv4 address") from exc
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise UnsafeUrlError("host is not a valid IPv4 address")
    value = last
    for index, n in enumerate(head):
        value += n * 256 ** (3 - index)
    return ipaddress.IPv4Address(value)


_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated (RFC 4291 2.5.5.1); sit0 may tunnel it
_V4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 2765), only routes inside a network
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: reaches the embedded v4 address
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215 local-use prefix


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries (mapped, NAT64, 6to4, both ends of Teredo)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_public_address(ip: IpAddress) -> bool:
    """Whether an address is globally routable unicast (and not a v4 private address in v6 clothing).

    IPv6 forms that carry an IPv4 address get the embedded address's verdict, so the
    answer does not depend on which Python's ``is_global`` table is in use (3.11 and
    Pyodide's 3.14 differ on ``::ffff:0:0/96``). Forms that only route inside a network
    (IPv4-compatible, SIIT-translated, local-use NAT64) are refused whatever they carry.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _V4_COMPATIBLE or ip in _V4_TRANSLATED or ip in _NAT64_LOCAL:
            return False
        embedded = _embedded_ipv4(ip)
        if embedded:
            if not all(is_public_address(v4) for v4 in embedded):
                return False
            if ip.ipv4_mapped is not None or ip in _NAT64:
                return True
    return ip.is_global and not ip.is_multicast


def check_webhook_url(url: str, policy: UrlPolicy) -> str:
    """The URL if the service may call it; otherwise ``UnsafeUrlError`` saying why."""
    if len(url) > MAX_URL_CHARS:
        raise UnsafeUrlError(f"URL is over {MAX_URL_CHARS} characters")
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in url) or "\\" in url:
        raise UnsafeUrlError("URL must be plain ASCII without spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a bad port
    except ValueError as exc:
        raise UnsafeUrlError(f"URL does not parse: {exc}") from exc
    if parts.scheme.lower() not in policy.schemes:
        raise UnsafeUrlError(f"URL scheme must be one of: {', '.join(sorted(policy.schemes))}")
    if "@" in parts.netloc:
        raise UnsafeUrlError("URL must not carry credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrlError("URL has no host")
    if port == 0:
        raise UnsafeUrlError("URL port must not be 0")
    if host in policy.allowed_hosts:
        return url
    if parts.netloc.split(":")[0].startswith("[") or ":" in host:
        try:
            ip6 = ipaddress.IPv6Address(host.split("%")[0])
        except ValueError as exc:
            raise UnsafeUrlError("host is not a valid IPv6 address") from exc
        if "%" in host or not is_public_address(ip6):
            raise UnsafeUrlError("host is a private, loopback, link-local or reserved address")
        return url
    ip4 = _whatwg_ipv4(host)
    if ip4 is not None:
        if not is_public_address(ip4):
            raise UnsafeUrlError("host is a private, loopback, link-local or reserved address")
        return url
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UnsafeUrlError("host is not a valid DNS name (use punycode for international names)")
    if any(host == s or host.endswith("." + s) for s in INTERNAL_SUFFIXES):
        raise UnsafeUrlError("host is an internal name")
    if len(labels) < 2:
        raise UnsafeUrlError("host must be a fully qualified public name")
    return url


def resolved_addresses_allowed(host: str, addresses: Iterable[str], policy: UrlPolicy) -> bool:
    """After DNS: every address a host resolves to must be public (unless the host is exempt)."""
    if host.lower().rstrip(".") in policy.allowed_hosts:
        return True
    resolved = list(addresses)
    try:
        return bool(resolved) and all(is_public_address(ipaddress.ip_address(a.split("%")[0])) for a in resolved)
    except ValueError:
        return False
