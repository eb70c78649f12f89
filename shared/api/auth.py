"""Bearer-token authentication: ``API_TOKENS`` maps tokens (as SHA-256) to tenants."""

from __future__ import annotations

from shared.api.errors import ApiError
from shared.config import Settings
from shared.http import HttpRequest
from shared.security.tokens import match_token

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
    # Hashed, then compared with every known digest in constant time; no early exit.
    tenant = match_token(token.strip(), settings.api_tokens)
    if tenant is None:
        raise unauthorized()
    return tenant
