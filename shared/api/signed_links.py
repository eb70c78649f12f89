"""Signed audio links: signing completed jobs' audioUrl, and checking a link that stands in for a token."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from shared.api.errors import ApiError
from shared.api.views import AudioQuery
from shared.http import HttpRequest
from shared.models import JobRecord
from shared.security.signing import (
    LinkCheck,
    audio_link_query,
    keyring_of,
    tenant_tag,
    verify_audio_link,
)

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

def audio_links(deps: Dependencies) -> AudioQuery | None:
    """Signs completed jobs' audioUrl; None when ``SIGNING_KEY`` is unset."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        return None
    now = deps.clock()
    ttl = deps.settings.signed_url_ttl_seconds

    def query(record: JobRecord) -> str:
        return audio_link_query(keyring, record.job_id, record.tenant, now, ttl)

    return query


SIGNED_LINK_QUERY = ("expires", "t", "signature")


def is_signed_link(request: HttpRequest) -> bool:
    return any(name in request.query for name in SIGNED_LINK_QUERY)


def forbidden(code: str, message: str) -> ApiError:
    return ApiError(403, code, message)


def check_signed_link(request: HttpRequest, deps: Dependencies, job_id: str) -> int:
    """403 unless the link's signature is valid and unexpired; returns its expiry.

    Needs no lookup: the caller loads the job afterwards and compares its
    tenant with the link's tag (``link_matches``)."""
    keyring = keyring_of(deps.settings)
    if keyring is None:
        raise forbidden("invalid_signature", "signed links are not enabled on this deployment")
    expires = request.query_param("expires")
    check = verify_audio_link(
        keyring, job_id, request.query_param("t"), expires, request.query_param("signature"), deps.clock()
    )
    if check is LinkCheck.INVALID:
        raise forbidden("invalid_signature", "the link's signature is not valid for this job")
    if check is LinkCheck.EXPIRED:
        raise forbidden("link_expired", "the link has expired; fetch the job again for a fresh audioUrl")
    return int(expires or 0)


def link_matches(request: HttpRequest, record: JobRecord) -> bool:
    """Whether a valid link's tenant tag is the job's tenant."""
    return request.query_param("t") == tenant_tag(record.tenant)


def signed_cache_control(expires: int, now: float) -> str:
    return f"private, max-age={max(0, min(3600, math.floor(expires - now)))}"
