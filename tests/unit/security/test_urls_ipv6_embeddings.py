"""IPv4 addresses hidden inside IPv6 literals: every embedding the SSRF guard must see through.

The table is built from a few private/loopback/link-local IPv4 targets written in
each IPv6 form that carries an IPv4 address (RFC 4291 compatible and mapped,
RFC 6052 NAT64 and RFC 8215 local-use NAT64, SIIT translated, RFC 3056 6to4,
RFC 4380 Teredo), each in several spellings (dotted quad, hex groups, zeros
written out, upper case).
"""

from __future__ import annotations

import ipaddress

import pytest

from shared.security.urls import UnsafeUrlError, UrlPolicy, check_webhook_url, is_public_address

DEFAULT = UrlPolicy()

PRIVATE_TARGETS = ("127.0.0.1", "10.0.0.1", "192.168.1.1", "172.16.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0")


def _hex(v4: str) -> tuple[str, str]:
    n = int(ipaddress.IPv4Address(v4))
    return f"{n >> 16:x}", f"{n & 0xFFFF:x}"


def _spellings(v4: str) -> list[str]:
    hi, lo = _hex(v4)
    teredo_client = int(ipaddress.IPv4Address(v4)) ^ 0xFFFFFFFF  # Teredo obfuscates the client address
    return [
        f"::{v4}",                                   # IPv4-compatible, dotted
        f"::{hi}:{lo}",                              # IPv4-compatible, hex
        f"0:0:0:0:0:0:{v4}",                         # IPv4-compatible, zeros written out
        f"::ffff:{v4}",                              # IPv4-mapped, dotted
        f"::FFFF:{hi.upper()}:{lo.upper()}",         # IPv4-mapped, hex, upper case
        f"0000:0000:0000:0000:0000:ffff:{v4}",       # IPv4-mapped, zeros written out
        f"::ffff:0:{v4}",                            # SIIT IPv4-translated
        f"64:ff9b::{v4}",                            # NAT64 well-known prefix, dotted
        f"64:FF9B::{hi}:{lo}",                       # NAT64, hex
        f"64:ff9b:1::{hi}:{lo}",                     # local-use NAT64 (RFC 8215)
        f"2002:{hi}:{lo}::",                         # 6to4
        f"2002:{hi}:{lo}:1::1",                      # 6to4 with a subnet and host
        f"2001:0:{hi}:{lo}::1",                      # Teredo with the target as server
        f"2001:0:4136:e378:8000:63bf:{teredo_client >> 16:x}:{teredo_client & 0xFFFF:x}",  # Teredo client
    ]


EMBEDDED_PRIVATE = [(v4, host) for v4 in PRIVATE_TARGETS for host in _spellings(v4)]

PUBLIC_EMBEDDINGS = [
    "64:ff9b::8.8.8.8",            # NAT64 of a public address: a real IPv6-only network's way to reach it
    "64:ff9b::808:808",
    "2002:808:808::1",             # 6to4 of a public address
    "2606:4700:4700::1111",        # plain public IPv6
]


def test_the_table_has_at_least_eighty_spellings() -> None:
    assert len(EMBEDDED_PRIVATE) >= 80


@pytest.mark.parametrize("v4,host", EMBEDDED_PRIVATE, ids=[h for _, h in EMBEDDED_PRIVATE])
def test_private_ipv4_inside_ipv6_is_refused(v4: str, host: str) -> None:
    # GIVEN a literal that parses as IPv6 but carries a private IPv4 address
    assert ipaddress.IPv6Address(host)
    # THEN the guard refuses it as a webhook host and as a resolved address
    with pytest.raises(UnsafeUrlError, match="private"):
        check_webhook_url(f"https://[{host}]/hook", DEFAULT)
    assert not is_public_address(ipaddress.IPv6Address(host))


@pytest.mark.parametrize("host", PUBLIC_EMBEDDINGS)
def test_public_ipv4_behind_nat64_or_6to4_still_passes(host: str) -> None:
    url = f"https://[{host}]/hook"
    assert check_webhook_url(url, DEFAULT) == url


@pytest.mark.parametrize("host", ["::8.8.8.8", "::808:808", "::ffff:0:8.8.8.8", "64:ff9b:1::808:808"])
def test_deprecated_and_local_use_embeddings_are_refused_even_for_public_targets(host: str) -> None:
    # IPv4-compatible addresses are deprecated (RFC 4291 2.5.5.1) and may be tunnelled by a
    # host's sit0 device; SIIT-translated and local-use NAT64 prefixes only route inside a network.
    with pytest.raises(UnsafeUrlError, match="private"):
        check_webhook_url(f"https://[{host}]/hook", DEFAULT)
