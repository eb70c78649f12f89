from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.config import Settings
from shared.errors import ConfigError
from shared.security.signing import (
    Keyring,
    LinkCheck,
    link_expiry,
    sign_audio_link,
    tenant_tag,
    verify_audio_link,
    webhook_headers,
    webhook_secret,
    webhook_secrets,
)

OLD, NEW = "o" * 32, "n" * 32
JOB, OTHER_JOB = "a" * 32, "b" * 32


def check(keyring: Keyring, params: dict[str, str], now: float, job: str = JOB, tenant: str = "alice") -> LinkCheck:
    """The link's own check, then the tenant comparison the API makes with the job's owner."""
    verdict = verify_audio_link(keyring, job, params.get("t"), params.get("expires"), params.get("signature"), now)
    if verdict is LinkCheck.OK and params.get("t") != tenant_tag(tenant):
        return LinkCheck.INVALID
    return verdict


def test_a_link_is_bound_to_job_tenant_and_expiry() -> None:
    keyring = Keyring(NEW)
    params = sign_audio_link(keyring, JOB, "alice", 2_000)
    assert check(keyring, params, 1_000) is LinkCheck.OK
    assert check(keyring, params, 1_000, job=OTHER_JOB) is LinkCheck.INVALID
    assert check(keyring, params, 1_000, tenant="bob") is LinkCheck.INVALID
    assert check(keyring, {**params, "t": tenant_tag("bob")}, 1_000, tenant="bob") is LinkCheck.INVALID
    assert "alice" not in str(params)
    assert check(keyring, {**params, "expires": "2001"}, 1_000) is LinkCheck.INVALID
    assert check(keyring, {**params, "signature": params["signature"][:-1] + "A"}, 1_000) is LinkCheck.INVALID
    assert check(keyring, {"expires": params["expires"]}, 1_000) is LinkCheck.INVALID
    assert check(keyring, params, 2_000) is LinkCheck.EXPIRED
    assert check(Keyring(OLD), params, 1_000) is LinkCheck.INVALID


@pytest.mark.parametrize("expires", ["", "-1", "1e9", "0x10", "9" * 13, "１２３"])
def test_malformed_expiry_is_invalid_not_an_error(expires: str) -> None:
    assert verify_audio_link(Keyring(NEW), JOB, tenant_tag("alice"), expires, "sig", 0) is LinkCheck.INVALID


def test_the_previous_key_is_accepted_until_its_end_date() -> None:
    old_link = sign_audio_link(Keyring(OLD), JOB, "alice", 10_000)
    rotated = Keyring(NEW, previous=OLD, previous_until=5_000)
    assert check(rotated, old_link, 4_999) is LinkCheck.OK
    assert check(rotated, old_link, 5_000) is LinkCheck.INVALID
    assert check(Keyring(NEW, previous=OLD), old_link, 9_999) is LinkCheck.OK  # no end date: until removed
    assert check(Keyring(NEW), old_link, 1) is LinkCheck.INVALID  # removed
    new_link = sign_audio_link(rotated, JOB, "alice", 10_000)
    assert check(Keyring(NEW), new_link, 1) is LinkCheck.OK  # new links use the new key


def test_link_expiry_is_at_least_the_ttl_and_stable_within_a_window() -> None:
    assert link_expiry(1_000, 3_600) >= 4_600
    assert link_expiry(1_000, 3_600) == link_expiry(1_100, 3_600)  # same URL: cacheable
    assert link_expiry(1_000, 3_600) - 1_000 <= 3_600 + 300
    assert link_expiry(1_000, 60) - 1_000 <= 120


def test_webhook_secrets_are_per_tenant_and_per_key() -> None:
    alice, bob = webhook_secret(NEW, "alice"), webhook_secret(NEW, "bob")
    assert alice.startswith("whsec_") and alice != bob
    assert len(base64.b64decode(alice.removeprefix("whsec_"))) == 32
    assert webhook_secret(OLD, "alice") != alice
    assert webhook_secrets(Keyring(NEW, OLD, 5_000), "alice", 1) == [alice, webhook_secret(OLD, "alice")]
    assert webhook_secrets(Keyring(NEW, OLD, 5_000), "alice", 5_000) == [alice]


def test_webhook_headers_follow_standard_webhooks() -> None:
    secret = webhook_secret(NEW, "alice")
    body = b'{"type":"job.completed"}'
    headers = webhook_headers([secret, webhook_secret(OLD, "alice")], "msg_1", 1_700_000_000, body)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, b"msg_1.1700000000." + body, hashlib.sha256).digest()).decode()
    assert signatures[0] == f"v1,{expected}"


def test_signing_keys_must_be_long() -> None:
    with pytest.raises(ConfigError, match="SIGNING_KEY must be at least 32"):
        Settings.from_env({"SIGNING_KEY": "short"})
    with pytest.raises(ConfigError, match="SIGNING_KEY_PREVIOUS"):
        Settings.from_env({"SIGNING_KEY": NEW, "SIGNING_KEY_PREVIOUS": "short"})
    with pytest.raises(ConfigError, match="SIGNING_KEY_PREVIOUS_UNTIL"):
        Settings.from_env({"SIGNING_KEY": NEW, "SIGNING_KEY_PREVIOUS_UNTIL": "next tuesday"})
    parsed = Settings.from_env({"SIGNING_KEY_PREVIOUS_UNTIL": "2026-12-01T00:00:00Z"})
    assert parsed.signing_key_previous_until == 1_796_083_200
    assert "n" * 32 not in repr(Settings.from_env({"SIGNING_KEY": NEW}))


def test_audio_url_query_parses_back() -> None:
    from shared.security.signing import audio_link_query

    query = audio_link_query(Keyring(NEW), JOB, "alice", 1_000, 3_600)
    params = {k: v[0] for k, v in parse_qs(urlsplit("?" + query).query).items()}
    assert check(Keyring(NEW), params, 1_000) is LinkCheck.OK
