"""HMAC keys derived from ``SIGNING_KEY``: signed audio links and webhook secrets.

One secret, several purposes: each purpose gets its own key derived with
HMAC-SHA256, so a tenant's webhook secret can never sign an audio link, and
no derived key reveals ``SIGNING_KEY``.

Rotation: ``SIGNING_KEY_PREVIOUS`` (the old key) is still accepted for links,
and still signs webhooks next to the new key, until
``SIGNING_KEY_PREVIOUS_UNTIL`` (unix seconds or ISO 8601), after which it is
ignored even if left configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import urlencode

LINK_GRANULARITY_SECONDS = 300  # links minted within one window are identical (cacheable)


def _derive(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), f"tts-pipeline/{purpose}".encode(), hashlib.sha256).digest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class Keyring:
    """The current signing secret and, during a rotation, the previous one."""

    current: str
    previous: str | None = None
    previous_until: float | None = None  # None: the previous key has no end date

    def secrets(self, now: float) -> list[str]:
        """Secrets to accept (and to sign webhooks with) at ``now``, current first."""
        out = [self.current]
        if self.previous and (self.previous_until is None or now < self.previous_until):
            out.append(self.previous)
        return out


class SigningSettings(Protocol):
    """The settings a keyring is made of (``shared.config.Settings`` has them)."""

    @property
    def signing_key(self) -> str | None: ...
    @property
    def signing_key_previous(self) -> str | None: ...
    @property
    def signing_key_previous_until(self) -> float | None: ...


def keyring_of(settings: SigningSettings) -> Keyring | None:
    """The settings' keyring; None when ``SIGNING_KEY`` is unset (no links, no webhooks)."""
    if not settings.signing_key:
        return None
    return Keyring(settings.signing_key, settings.signing_key_previous, settings.signing_key_previous_until)


# --- signed audio links ------------------------------------------------------


class LinkCheck(str, Enum):
    OK = "ok"
    EXPIRED = "expired"
    INVALID = "invalid"


def tenant_tag(tenant: str) -> str:
    """A link's ``t``: names the tenant without spelling it out (64 bits of its SHA-256)."""
    return hashlib.sha256(f"tenant\n{tenant}".encode()).hexdigest()[:16]


def _link_signature(secret: str, job_id: str, tag: str, expires: int) -> str:
    message = f"audio\n{job_id}\n{tag}\n{expires}".encode()
    return _b64url(hmac.new(_derive(secret, "audio-link/v1"), message, hashlib.sha256).digest())


def link_expiry(now: float, ttl_seconds: int) -> int:
    """When a link minted now expires: at least ``ttl_seconds`` away, rounded up to a window."""
    window = max(1, min(LINK_GRANULARITY_SECONDS, ttl_seconds))
    return int(math.ceil((now + ttl_seconds) / window) * window)


def sign_audio_link(keyring: Keyring, job_id: str, tenant: str, expires: int) -> dict[str, str]:
    """Query parameters of a signed link to a job's audio, bound to job, tenant and expiry.

    The tenant travels as its tag, inside the signature, so a link is checked
    without a lookup (a forged one costs no Durable Object request) and the
    job's owner is compared with the tag afterwards.
    """
    tag = tenant_tag(tenant)
    return {"expires": str(expires), "t": tag, "signature": _link_signature(keyring.current, job_id, tag, expires)}


def audio_link_query(keyring: Keyring, job_id: str, tenant: str, now: float, ttl_seconds: int) -> str:
    """``expires=...&signature=...`` for a link minted at ``now``."""
    return urlencode(sign_audio_link(keyring, job_id, tenant, link_expiry(now, ttl_seconds)))


def verify_audio_link(
    keyring: Keyring, job_id: str, tag: str | None, expires: str | None, signature: str | None, now: float
) -> LinkCheck:
    """Checks the link's own parameters; the caller then checks ``tag`` against the job's tenant."""
    if not expires or not signature or not tag or len(tag) > 32 or len(signature) > 64:
        return LinkCheck.INVALID
    if not (expires.isascii() and expires.isdigit()) or len(expires) > 12:
        return LinkCheck.INVALID
    valid = False
    for secret in keyring.secrets(now):
        expected = _link_signature(secret, job_id, tag, int(expires))
        # Every key is tried, match or not: timing says nothing about which.
        valid |= hmac.compare_digest(expected.encode(), signature.encode("ascii", "replace"))
    if not valid:
        return LinkCheck.INVALID
    return LinkCheck.OK if now < int(expires) else LinkCheck.EXPIRED


# --- webhooks (Standard Webhooks) --------------------------------------------

WEBHOOK_SECRET_PREFIX = "whsec_"


def webhook_secret(secret: str, tenant: str) -> str:
    """The tenant's webhook secret (``whsec_<base64 key>``), derived: one per tenant, never shared."""
    key = hmac.new(_derive(secret, "webhook-secret/v1"), tenant.encode(), hashlib.sha256).digest()
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode("ascii")


def webhook_secrets(keyring: Keyring, tenant: str, now: float) -> list[str]:
    """The tenant's webhook secrets in force: current first, then the previous key's."""
    return [webhook_secret(s, tenant) for s in keyring.secrets(now)]


def _secret_key(whsec: str) -> bytes:
    try:
        return base64.b64decode(whsec.removeprefix(WEBHOOK_SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("not a whsec_<base64> secret") from exc


def webhook_signature(whsec: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature: HMAC-SHA256 of ``id.timestamp.body``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_secret_key(whsec), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def webhook_headers(whsecs: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret in force (rotation)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(webhook_signature(s, msg_id, timestamp, body) for s in whsecs),
    }
