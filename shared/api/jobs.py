"""Handlers of ``/v1/jobs``: submit, status, audio, legacy result, list, delete."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import re
from typing import TYPE_CHECKING

from pydantic import ValidationError

from shared.api import idempotency, request_limits, signed_links, stream, waiting
from shared.api.captions import serve_captions
from shared.api.input_audio import input_asked, serve_input
from shared.api.errors import ApiError, not_found
from shared.api.legacy_body import legacy_result_response
from shared.api.links import link_base
from shared.api.ranges import UnsatisfiableRange, if_range_holds, none_match, parse_range
from shared.api.submission import submit_job
from shared.api.views import decode_cursor, encode_cursor, job_path, job_view
from shared.captions.location import timings_key_of
from shared.errors import IllegalTransitionError, JobNotFoundError
from shared.http import HttpRequest, HttpResponse
from shared.jobs.shard import Cancel, Get, ListJobs
from shared.models import JOB_ID_PATTERN, CreateJobRequest, FieldValueError, JobList, JobRecord, JobStatus, LegacyResult
from shared.synthesis.speech_plan import warm_lexicons

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

_JOB_ID = re.compile(JOB_ID_PATTERN)
DEFAULT_PAGE = 20
MAX_PAGE = 100


MAX_JSON_DEPTH = 32
"""A job body is flat (depth 2 at most). Deeper nesting is refused before parsing:
in Pyodide a few hundred thousand ``[`` overflow the wasm stack inside the
parser and kill the Worker's isolate, where CPython only raises RecursionError."""
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
_OPENERS = frozenset(b"[{")


def json_depth(body: bytes) -> int:
    """How deeply ``body``'s arrays and objects nest (brackets inside strings do not count)."""
    structure = _JSON_STRING.sub(b"", body)
    steps = (1 if c in _OPENERS else -1 for c in b"".join(_JSON_BRACKET.findall(structure)))
    return max(itertools.accumulate(steps, initial=0))


def _json_body(request: HttpRequest, max_bytes: int) -> object:
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the job as 'Content-Type: application/json'")
    if len(request.body) > max_bytes:
        raise request_limits.body_too_large(max_bytes)
    if json_depth(request.body) > MAX_JSON_DEPTH:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: nested more than {MAX_JSON_DEPTH} deep")
    try:
        return json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {str(exc)[:200]}") from exc
    except RecursionError as exc:  # [[[[...]]]] nested past the parser's stack
        raise ApiError(400, "invalid_json", "body is not valid JSON: nested too deeply") from exc


def _validation_error(exc: ValidationError) -> ApiError:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first.get("loc", ())) or None
    named = (first.get("ctx") or {}).get("error")
    if field is None and isinstance(named, FieldValueError):  # a rule over several fields names its own
        field = named.field
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    return ApiError(422, "validation_error", message, field=field)


async def _own_record(deps: Dependencies, tenant: str, job_id: str, *, with_text: bool = False) -> JobRecord:
    """The caller's live job, or 404 (unknown, another tenant's, or expired)."""
    if not _JOB_ID.match(job_id):
        raise not_found(job_id[:64])
    return own(deps, tenant, job_id, await deps.jobs.call(Get(job_id=job_id, with_text=with_text)))


def own(deps: Dependencies, tenant: str, job_id: str, record: JobRecord | None) -> JobRecord:
    """``record`` if it is the caller's live job, else 404 (unknown, another tenant's, or expired)."""
    if not _JOB_ID.match(job_id):
        raise not_found(job_id[:64])
    if record is None or record.tenant != tenant:
        raise not_found(job_id)
    if record.expires_at is not None and record.expires_at <= deps.clock():
        raise not_found(job_id)
    return record


def parse_create_body(request: HttpRequest, deps: Dependencies) -> CreateJobRequest:
    """The validated body of ``POST /v1/jobs`` (400/413/415/422 ``ApiError`` otherwise)."""
    data = _json_body(request, max_bytes=request_limits.body_limit(deps.settings))
    try:
        return CreateJobRequest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc


async def create_job(request: HttpRequest, deps: Dependencies, tenant: str) -> HttpResponse:
    key = idempotency.idempotency_key(request)
    body = parse_create_body(request, deps)
    wait = waiting.prefer_wait(request, deps.settings.max_wait_seconds)
    submitted = await submit_job(deps, tenant, body, key)
    record = submitted.record
    if submitted.replayed:
        assert key is not None
        return _replayed(request, deps, record)
    headers = {"Location": job_path(record.job_id)}
    status = 200 if record.status.is_terminal else 202  # 200: completed at submit from the synthesis cache
    if wait is not None and status == 202:
        # Prefer: wait=N (RFC 7240): the finished job (200) if it ends within N s, else the usual 202.
        # Not applied (a plain 202) when the tenant holds its share of the shard's waits, or at shutdown.
        waited = await waiting.until_final(deps, tenant, record.job_id, wait)
        if waited.outcome in ("changed", "timeout"):
            headers["Preference-Applied"] = f"wait={wait}"
        if waited.record is not None:
            record = waited.record
            status = 200 if record.status.is_terminal else 202
    view = job_view(record, link_base(deps.settings, request.base_url), signed_links.audio_links(deps))
    return HttpResponse.json(status, view.to_json_dict(), headers)


def _replayed(request: HttpRequest, deps: Dependencies, record: JobRecord) -> HttpResponse:
    """The job an earlier request with this key created: 200 (not a new 202); a different body was a 422."""
    view = job_view(record, link_base(deps.settings, request.base_url), signed_links.audio_links(deps))
    headers = {"Location": job_path(record.job_id), "Idempotent-Replayed": "true"}
    return HttpResponse.json(200, view.to_json_dict(), headers)


async def get_job(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str) -> HttpResponse:
    wait = waiting.query_wait(request, deps.settings.max_wait_seconds)
    if wait is None:
        record = await _own_record(deps, tenant, job_id)
    else:
        # ?wait=N: one waitForChange call, answered by the shard when the status changes (or at N s);
        # the shard checks the job is the tenant's before it waits.
        if not _JOB_ID.match(job_id):
            raise not_found(job_id[:64])
        waited = await waiting.changed(deps, tenant, job_id, wait)
        if waited.busy:
            raise waiting.too_many_waiters()
        record = own(deps, tenant, job_id, waited.record)
    return HttpResponse.json(200, job_view(record, link_base(deps.settings, request.base_url), signed_links.audio_links(deps)).to_json_dict())


async def get_audio(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str) -> HttpResponse:
    """The audio for the bearer of the owner's token; ``?stream=1``: while it is made (shared/api/stream.py);
    ``?input=N``: one input of a multi-input job (shared/api/input_audio.py)."""
    index = input_asked(request)
    if index is not None:
        record = await _own_record(deps, tenant, job_id)
        return await serve_input(request, deps, record, index, "private, max-age=3600")
    if not _stream_asked(request):
        record = await _own_record(deps, tenant, job_id)
        return await _serve_audio(request, deps, record, "private, max-age=3600")
    record = await _own_record(deps, tenant, job_id, with_text=True)
    if record.status is not JobStatus.COMPLETED:
        await warm_lexicons(deps.jobs, record)  # a job with lexicons is planned from their versions
        plan = stream.chunk_plan(deps, record)
        if plan is not None and not record.status.is_terminal:
            return stream.streamed(deps, record, *plan)
        record = own(deps, tenant, job_id, await stream.completed_or_409(deps, record))
    return await _serve_audio(request, deps, record, "private, max-age=3600")


def _stream_asked(request: HttpRequest) -> bool:
    raw = request.query_param("stream")
    if raw is None or raw in ("0", "false"):
        return False
    if raw in ("1", "true"):
        return True
    raise ApiError(400, "invalid_stream", "stream must be 1 or 0", field="stream")


async def get_signed_audio(request: HttpRequest, deps: Dependencies, job_id: str) -> HttpResponse:
    """The audio for the holder of a signed link (no token): 403 when tampered or expired.

    ``stream`` is taken as on the token's route (OpenAPI lists it for both); a link is
    signed for a completed job, whose answer is the stored audio either way."""
    _stream_asked(request)  # 400 for a value that is none of 0/1/true/false
    index = input_asked(request)
    record, cache_control = await _signed_record(request, deps, job_id)
    if index is not None:
        return await serve_input(request, deps, record, index, cache_control)
    return await _serve_audio(request, deps, record, cache_control)


async def _signed_record(request: HttpRequest, deps: Dependencies, job_id: str) -> tuple[JobRecord, str]:
    """The job a signed link names and the Cache-Control its answer gets: 403 when tampered or expired."""
    expires = signed_links.check_signed_link(request, deps, job_id)  # before any lookup: forgeries cost nothing
    record = await deps.jobs.call(Get(job_id=job_id)) if _JOB_ID.match(job_id) else None
    if record is None:
        raise not_found(job_id)  # a genuine link to a job since deleted
    if not signed_links.link_matches(request, record):
        raise signed_links.forbidden("invalid_signature", "the link's signature is not valid for this job")
    if record.expires_at is not None and record.expires_at <= deps.clock():
        raise not_found(job_id)
    return record, signed_links.signed_cache_control(expires, deps.clock())


async def get_captions(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str, kind: str) -> HttpResponse:
    """``/captions.vtt``, ``/captions.srt`` or ``/timestamps`` for the bearer of the owner's token."""
    record = await _own_record(deps, tenant, job_id)
    return await serve_captions(request, deps, record, kind, "private, max-age=3600")


async def get_signed_captions(request: HttpRequest, deps: Dependencies, job_id: str, kind: str) -> HttpResponse:
    """The same for the holder of a signed link of the job (the audioUrl's query signs the job, not a path)."""
    record, cache_control = await _signed_record(request, deps, job_id)
    return await serve_captions(request, deps, record, kind, cache_control)


async def _serve_audio(request: HttpRequest, deps: Dependencies, record: JobRecord, cache_control: str) -> HttpResponse:
    if record.status is not JobStatus.COMPLETED or not record.audio_key:
        raise ApiError(
            409, "not_ready", f"job is {record.status.value}; audio exists once it is completed",
            extra={"status": record.status.value},
        )
    etag = f'"{record.etag}"'
    size = record.size_bytes or 0
    if none_match(request.headers.get("if-none-match"), etag):
        return HttpResponse.empty(304, {"ETag": etag, "Cache-Control": cache_control})
    range_header = request.headers.get("range")
    if not if_range_holds(request.headers.get("if-range"), etag):
        range_header = None  # the client's copy is not this audio: send all of it
    try:
        byte_range = parse_range(range_header, size)
    except UnsatisfiableRange as exc:
        raise ApiError(416, "range_not_satisfiable", exc.reason,
                       headers={"Content-Range": f"bytes */{size}"}) from exc
    blob = await deps.bucket.get(record.audio_key, byte_range)
    if blob is None:
        raise ApiError(410, "audio_gone", "the audio of this job is no longer stored")
    headers = {
        "Content-Type": record.mime_type or "application/octet-stream",
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": cache_control,
        "Content-Disposition": f'inline; filename="{record.job_id}.{record.audio_key.rsplit(".", 1)[-1]}"',
    }
    if byte_range is not None:
        headers["Content-Range"] = f"bytes {byte_range.offset}-{byte_range.offset + byte_range.length - 1}/{size}"
        headers["Content-Length"] = str(byte_range.length)
        status = 206
    else:
        headers["Content-Length"] = str(blob.info.size)
        status = 200
    response = HttpResponse.empty(status, headers)
    response.blob = blob
    return response


async def get_legacy_result(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str) -> HttpResponse:
    record = await _own_record(deps, tenant, job_id)
    result = LegacyResult(job_id=record.job_id, status=record.status, error=record.error)
    if record.status is JobStatus.COMPLETED and record.audio_key:
        limit = deps.settings.legacy_result_max_bytes
        if (record.size_bytes or 0) > limit:
            # Checked before touching R2: no class B read for an answer we refuse.
            raise ApiError(
                413,
                "result_too_large",
                f"the audio is {record.size_bytes} bytes, over the {limit} bytes the base64 result carries;"
                f" download it from {job_path(record.job_id)}/audio",
            )
        blob = await deps.bucket.get(record.audio_key)
        if blob is None:
            raise ApiError(410, "audio_gone", "the audio of this job is no longer stored")
        result.mime_type = record.mime_type
        # base64 straight into the body: one copy of the encoded audio, not four
        return legacy_result_response(result, await blob.read())
    return HttpResponse.json(200, result.to_json_dict())


async def list_jobs(request: HttpRequest, deps: Dependencies, tenant: str) -> HttpResponse:
    raw_limit = request.query_param("limit")
    limit = request_limits.ascii_int(raw_limit, max_digits=6) if raw_limit is not None else DEFAULT_PAGE
    if limit is None:
        raise ApiError(400, "invalid_limit", "limit must be an integer", field="limit")
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, "invalid_limit", f"limit must be between 1 and {MAX_PAGE}", field="limit")
    cursor = request.query_param("cursor")
    before = decode_cursor(cursor) if cursor else None
    now = deps.clock()
    # Keyset pagination merged over every shard: each returns its newest
    # `limit + 1` older than the cursor; the merge keeps the overall newest.
    pages = await asyncio.gather(*(deps.jobs.call(
        ListJobs(tenant=tenant, limit=limit + 1, before=before),
        shard=s,
    ) for s in deps.jobs.shards()))
    merged = heapq.merge(*pages, key=lambda r: (r.created_at, r.job_id), reverse=True)
    live = [r for r in merged if r.expires_at is None or r.expires_at > now]
    page, more = live[:limit], len(live) > limit
    base = link_base(deps.settings, request.base_url)
    body = JobList(
        jobs=[job_view(r, base, signed_links.audio_links(deps)) for r in page],
        next_cursor=encode_cursor(page[-1]) if more and page else None,
    )
    return HttpResponse.json(200, body.to_json_dict())


async def delete_job(request: HttpRequest, deps: Dependencies, tenant: str, job_id: str) -> HttpResponse:
    record = await _own_record(deps, tenant, job_id)
    if not record.status.is_terminal:
        try:
            record = await deps.jobs.call(Cancel(job_id=job_id))
        except (IllegalTransitionError, JobNotFoundError):
            found = await deps.jobs.call(Get(job_id=job_id))
            record = found or record
    # Audio first, metadata second: a crash in between leaves an orphan
    # object for the reaper, never a job pointing at nothing.
    objects = [k for k in (record.audio_key, timings_key_of(record)) if k]
    if objects:
        await deps.bucket.delete(objects)
    await deps.jobs.delete([job_id])
    deps.log.info("job_deleted", jobId=job_id, tenant=tenant)
    return HttpResponse.empty(204)
