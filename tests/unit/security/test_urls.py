from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.security.urls import UnsafeUrlError, UrlPolicy, check_webhook_url, resolved_addresses_allowed

DEFAULT = UrlPolicy()


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/tts",
        "https://hooks.example.com:8443/tts?x=1#frag",
        "https://8.8.8.8/hook",
        "https://[2001:4860:4860::8888]/hook",
        "https://xn--bcher-kva.example/hook",
        "https://example.com./hook",
    ],
)
def test_public_https_urls_pass(url: str) -> None:
    assert check_webhook_url(url, DEFAULT) == url


@pytest.mark.parametrize(
    "url,reason",
    [
        ("http://hooks.example.com/", "scheme"),
        ("ftp://hooks.example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://localhost/", "internal"),
        ("https://api.localhost/", "internal"),
        ("https://metadata.google.internal/", "internal"),
        ("https://printer.local/", "internal"),
        ("https://intranet/", "internal"),
        ("https://fileserver/", "fully qualified"),
        ("https://127.0.0.1/", "private"),
        ("https://127.1/", "private"),
        ("https://0x7f.0.0.1/", "private"),
        ("https://0177.0.0.1/", "private"),
        ("https://2130706433/", "private"),
        ("https://0/", "private"),
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://100.64.0.1/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "private"),
        ("https://224.0.0.1/", "private"),
        ("https://255.255.255.255/", "private"),
        ("https://[::1]/", "private"),
        ("https://[::]/", "private"),
        ("https://[fe80::1]/", "private"),
        ("https://[fc00::1]/", "private"),
        ("https://[::ffff:127.0.0.1]/", "private"),
        ("https://[::ffff:a9fe:a9fe]/", "private"),
        ("https://[2002:7f00:1::]/", "private"),
        ("https://[64:ff9b::a9fe:a9fe]/", "private"),
        ("https://1.2.3.4.5/", "IPv4"),
        ("https://256.1.1.1/", "IPv4"),
        ("https://hooks.example.com:0/", "port"),
        ("https://hooks.example.com:99999/", "parse"),
        ("https://exa mple.com/", "plain ASCII"),
        ("https://hooks.example.com/\r\nX-Evil: 1", "plain ASCII"),
        ("https://bücher.example/", "plain ASCII"),
        ("https://hooks.example.com\\@127.0.0.1/", "backslash"),
        ("https://127%2e0%2e0%2e1/", "DNS name"),
        ("https:///path", "no host"),
        ("https://" + "a" * 2050 + ".com/", "2048"),
    ],
)
def test_unsafe_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeUrlError, match=reason):
        check_webhook_url(url, DEFAULT)


def test_the_allow_list_is_explicit_and_narrow() -> None:
    loopback = UrlPolicy.build(["https", "http"], ["127.0.0.1"])
    assert check_webhook_url("http://127.0.0.1:8080/hook", loopback)
    with pytest.raises(UnsafeUrlError):
        check_webhook_url("http://127.0.0.2:8080/hook", loopback)
    with pytest.raises(UnsafeUrlError):
        check_webhook_url("http://localhost:8080/hook", loopback)
    with pytest.raises(UnsafeUrlError, match="scheme"):
        check_webhook_url("http://127.0.0.1/", UrlPolicy.build(["https"], ["127.0.0.1"]))


def test_resolved_addresses_must_all_be_public() -> None:
    assert resolved_addresses_allowed("hooks.example.com", ["93.184.216.34", "2606:2800:220:1::1"], DEFAULT)
    assert not resolved_addresses_allowed("rebind.example.com", ["93.184.216.34", "127.0.0.1"], DEFAULT)
    assert not resolved_addresses_allowed("x.example.com", ["fe80::1%eth0"], DEFAULT)
    assert not resolved_addresses_allowed("x.example.com", [], DEFAULT)
    assert resolved_addresses_allowed("127.0.0.1", ["127.0.0.1"], UrlPolicy.build(["http"], ["127.0.0.1"]))


@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_spelling_of_an_ipv4_address_gets_the_same_verdict(value: int) -> None:
    address = ipaddress.IPv4Address(value)
    public = address.is_global and not address.is_multicast
    octets = str(address).split(".")
    for host in (str(address), str(value), hex(value), ".".join(hex(int(o)) for o in octets),
                 ".".join("0" + oct(int(o))[2:] for o in octets), f"{octets[0]}.{int(octets[1]) * 65536 + int(octets[2]) * 256 + int(octets[3])}"):
        url = f"https://{host}/hook"
        if public:
            assert check_webhook_url(url, DEFAULT) == url
        else:
            with pytest.raises(UnsafeUrlError):
                check_webhook_url(url, DEFAULT)


@given(st.text(max_size=200))
def test_any_text_is_either_accepted_or_refused_cleanly(text: str) -> None:
    try:
        check_webhook_url(text, DEFAULT)
    except UnsafeUrlError:
        pass
