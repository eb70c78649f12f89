"""Bearer-token authentication: ``API_TOKENS`` maps tokens to tenants."""

from __future__ import annotations

import hmac

from shared.api.errors import ApiError
from shared.config import Settings
from shared.http import HttpRequest

ANONYMOUS_TENANT = "local"


def unauthorized() -> ApiError:
    # One answer for a missing, malformed or wrong token: nothing to probe.
    return ApiError(
        401,
        "unauthorized",
        "a valid 'Authorization: Bearer <token>' header is required",
        headers={"WWW-Authenticate": 'Bearer realm="tts"'},
    )


def authenticate(request: HttpRequest, settings: Settings) -> str:
    """The tenant the request acts for, or a 401 ``ApiError``."""
    if not settings.api_tokens:
        if settings.allow_anonymous:
            return ANONYMOUS_TENANT
        raise unauthorized()
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    presented = token.strip().encode()
    tenant: str | None = None
    # Compare against every token in constant time; no early exit.
    for known, owner in settings.api_tokens.items():
        if hmac.compare_digest(presented, known.encode()):
            tenant = owner
    if tenant is None:
        raise unauthorized()
    return tenant
