"""API tokens: ``API_TOKENS`` parsing, constant-time matching, new tokens.

``API_TOKENS`` is a comma-separated list of ``tenant:token`` (plain) or
``tenant:sha256:<64 hex>`` (the SHA-256 of the token, so the plain token is
never stored in configuration). Both forms are kept as SHA-256 digests in
memory; a presented token is hashed once and compared with every digest in
constant time, so neither the match nor its position leaks through timing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping

from shared.errors import ConfigError

HASHED_PREFIX = "sha256:"
TOKEN_PREFIX = "tts_"
# Tenants end up in R2 metadata, log lines and idempotency scopes: keep them plain.
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def token_digest(token: str) -> str:
    """The hex SHA-256 of a token, as ``API_TOKENS`` stores it."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def parse_api_tokens(raw: str | None) -> dict[str, str]:
    """``tenant:token,tenant2:sha256:<hex>`` -> ``{sha256 hex: tenant}``."""
    table: dict[str, str] = {}
    if not raw:
        return table
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        tenant, sep, secret = entry.partition(":")
        tenant, secret = tenant.strip(), secret.strip()
        if not sep or not tenant or not secret:
            raise ConfigError("API_TOKENS must be comma-separated tenant:token or tenant:sha256:<hex> entries")
        if not TENANT_PATTERN.match(tenant):
            raise ConfigError(f"API_TOKENS: tenant {tenant!r} must be 1-64 of A-Z a-z 0-9 . _ -")
        if secret.startswith(HASHED_PREFIX):
            digest = secret[len(HASHED_PREFIX) :].strip().lower()
            if not _HEX64.match(digest):
                raise ConfigError(f"API_TOKENS: tenant {tenant!r} has a sha256: entry that is not 64 hex digits")
        else:
            digest = token_digest(secret)
        owner = table.get(digest)
        if owner is not None and owner != tenant:
            raise ConfigError(f"API_TOKENS: one token is given to two tenants ({owner!r} and {tenant!r})")
        table[digest] = tenant
    return table


def match_token(presented: str, table: Mapping[str, str]) -> str | None:
    """The tenant whose token this is, or None. Time does not depend on which entry matched."""
    digest = hashlib.sha256(presented.encode("utf-8", "surrogatepass")).digest()
    tenant: str | None = None
    for known, owner in table.items():
        if hmac.compare_digest(digest, bytes.fromhex(known)):
            tenant = owner
    return tenant


def new_token() -> str:
    """A fresh random token: 256 bits, URL-safe, prefixed so it is recognisable in a leak scan."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_tokens_entry(tenant: str, token: str) -> str:
    """The hashed ``API_TOKENS`` entry for a token: safe to keep in a config file."""
    if not TENANT_PATTERN.match(tenant):
        raise ConfigError(f"tenant {tenant!r} must be 1-64 of A-Z a-z 0-9 . _ -")
    return f"{tenant}:{HASHED_PREFIX}{token_digest(token)}"
