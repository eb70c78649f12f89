"""``/v1/lexicons``: a tenant's pronunciation lexicons (upload once, use on any job or speech request).

- ``PUT /v1/lexicons/{name}``: a W3C PLS document (``application/pls+xml``,
  also ``application/xml`` / ``text/xml``) or JSON ``{"rules": [{"grapheme",
  "alias"?, "phoneme"?, "alphabet"?}], "language"?}``; ``201`` when new,
  ``200`` when it replaced the lexicon of that name. At most
  ``MAX_LEXICON_BYTES`` (413), ``MAX_LEXICON_RULES`` rules and
  ``MAX_LEXICONS`` lexicons a tenant (409). A bad document is a 400
  ``invalid_lexicon`` naming the problem: its ``line`` and ``column`` for
  PLS (a DTD, an entity or an external reference is refused:
  ``shared.text.xmltree``), its ``rule`` index for JSON.
- ``GET /v1/lexicons``: ``{"lexicons": [...]}``, by name.
- ``GET /v1/lexicons/{name}``: the lexicon and its rules as JSON; the PLS
  document as uploaded with ``Accept: application/pls+xml``.
- ``DELETE /v1/lexicons/{name}``: ``204``; jobs already submitted with it
  still read the version they recorded (shared/jobs/lexicons.py).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from shared.api.errors import ApiError
from shared.api.jobs import json_depth
from shared.errors import LexiconLimitError
from shared.http import Headers, HttpRequest, HttpResponse
from shared.jobs import lexicons as store
from shared.jobs.lexicons import LexiconDelete
from shared.models import LEXICON_NAME_PATTERN, LexiconDocument, LexiconList, LexiconRule, LexiconView, iso

if TYPE_CHECKING:  # shared.text loads with the first lexicon request, not with the api's first request
    from shared.dependencies import Dependencies
    from shared.text.lexicon import Lexicon

__all__ = ["delete_lexicon", "get_lexicon", "list_lexicons", "put_lexicon"]

_NAME = re.compile(LEXICON_NAME_PATTERN)
PLS_TYPES = ("application/pls+xml", "application/xml", "text/xml")
MAX_JSON_DEPTH = 8


def _name(name: str) -> str:
    if not _NAME.match(name):
        raise ApiError(
            400,
            "invalid_lexicon_name",
            "a lexicon name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
            field="name",
        )
    return name


def lexicon_path(name: str) -> str:
    return f"/v1/lexicons/{name}"


def _view(data: dict[str, Any]) -> LexiconView:
    return LexiconView(
        name=data["name"],
        version=data["version"],
        format=data["format"],
        rule_count=data["ruleCount"],
        size_bytes=data["sizeBytes"],
        language=data.get("language"),
        created_at=iso(data["createdAt"]),
        updated_at=iso(data["updatedAt"]),
    )


def _invalid(message: str, **extra: Any) -> ApiError:
    return ApiError(400, "invalid_lexicon", message, field="body", extra=extra)


def parse_lexicon(content_type: str, body: bytes) -> tuple[Lexicon, str]:
    """The lexicon in ``body`` and its format (``pls`` or ``json``); ``ApiError`` 400/415 when refused."""
    from shared.text.errors import LexiconRuleError, MarkupError
    from shared.text.lexicon import lexicon_from_json, lexicon_from_pls

    try:
        source = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _invalid(f"a lexicon must be UTF-8: {exc}") from exc
    if content_type == "application/json":
        if not source.strip():
            raise _invalid("the body is empty")
        if json_depth(body) > MAX_JSON_DEPTH:
            raise ApiError(400, "invalid_json", f"body is not a lexicon: nested more than {MAX_JSON_DEPTH} deep")
        try:
            data = json.loads(source)
        except ValueError as exc:
            raise ApiError(400, "invalid_json", f"body is not valid JSON: {str(exc)[:200]}") from exc
        try:
            return lexicon_from_json(data), "json"
        except LexiconRuleError as exc:
            extra: dict[str, Any] = {"rule": exc.index} if exc.index is not None else {}
            raise _invalid(str(exc), **extra) from exc
    if content_type in PLS_TYPES:
        try:
            return lexicon_from_pls(source), "pls"
        except MarkupError as exc:
            raise _invalid(str(exc), line=exc.line, column=exc.column) from exc
    raise ApiError(
        415,
        "unsupported_media_type",
        "send a lexicon as 'Content-Type: application/pls+xml' (W3C PLS) or 'application/json' ({\"rules\": [...]})",
    )


async def put_lexicon(request: HttpRequest, deps: Dependencies, tenant: str, name: str) -> HttpResponse:
    _name(name)
    settings = deps.settings
    if len(request.body) > settings.max_lexicon_bytes:
        raise ApiError(
            413,
            "lexicon_too_large",
            f"the lexicon is {len(request.body):,} bytes, over MAX_LEXICON_BYTES ({settings.max_lexicon_bytes:,})",
            extra={"maxBytes": settings.max_lexicon_bytes},
        )
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    lexicon, fmt = parse_lexicon(content_type, request.body)
    if len(lexicon.rules) > settings.max_lexicon_rules:
        raise _invalid(
            f"the lexicon has {len(lexicon.rules):,} rules, over MAX_LEXICON_RULES ({settings.max_lexicon_rules:,})",
            rule=settings.max_lexicon_rules,
        )
    try:
        stored = await deps.jobs.call(store.LexiconPut(
            tenant=tenant,
            name=name,
            version=lexicon.version,
            format=fmt,
            source=request.body.decode("utf-8"),
            rules=lexicon.canonical(),
            rule_count=len(lexicon.rules),
            size_bytes=len(request.body),
            language=lexicon.language,
            now=deps.clock(),
            max_lexicons=settings.max_lexicons,
            keep_seconds=settings.reaper_give_up_seconds,
        ))
    except LexiconLimitError as exc:
        if exc.retry_after is not None:
            raise ApiError(429, exc.reason, exc.message, headers={"Retry-After": str(int(exc.retry_after))}) from exc
        raise ApiError(409, exc.reason, exc.message, extra={"maxLexicons": settings.max_lexicons}) from exc
    view = _view(stored["lexicon"])
    deps.log.info("lexicon_put", tenant=tenant, name=name, version=view.version, rules=view.rule_count)
    status = 201 if stored["created"] else 200
    return HttpResponse.json(status, view.to_json_dict(), {"Location": lexicon_path(name)})


async def list_lexicons(request: HttpRequest, deps: Dependencies, tenant: str) -> HttpResponse:
    rows = await deps.jobs.call(store.LexiconList(tenant=tenant))
    return HttpResponse.json(200, LexiconList(lexicons=[_view(r) for r in rows]).to_json_dict())


async def get_lexicon(request: HttpRequest, deps: Dependencies, tenant: str, name: str) -> HttpResponse:
    _name(name)
    data = await deps.jobs.call(store.LexiconGet(tenant=tenant, name=name))
    if data is None:
        raise ApiError(404, "lexicon_not_found", f"there is no lexicon {name!r}")
    accept = (request.headers.get("accept") or "").lower()
    if "application/pls+xml" in accept and data["format"] == "pls":
        body = data["source"].encode("utf-8")
        headers = {"Content-Type": "application/pls+xml; charset=utf-8", "ETag": f'"{data["version"]}"'}
        return HttpResponse(200, Headers({**headers, "Content-Length": str(len(body))}), body)
    from shared.text.lexicon import lexicon_from_canonical

    lexicon = lexicon_from_canonical(data["rules"])
    document = LexiconDocument(
        **_view(data).model_dump(),
        rules=[LexiconRule.model_validate(r) for r in lexicon.to_rules_json()],
    )
    return HttpResponse.json(200, document.to_json_dict(), {"ETag": f'"{data["version"]}"'})


async def delete_lexicon(request: HttpRequest, deps: Dependencies, tenant: str, name: str) -> HttpResponse:
    _name(name)
    existed = await deps.jobs.call(
        LexiconDelete(tenant=tenant, name=name, now=deps.clock(), keep_seconds=deps.settings.reaper_give_up_seconds)
    )
    if not existed:
        raise ApiError(404, "lexicon_not_found", f"there is no lexicon {name!r}")
    deps.log.info("lexicon_deleted", tenant=tenant, name=name)
    return HttpResponse.empty(204)
