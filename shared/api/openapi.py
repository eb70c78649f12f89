"""The OpenAPI 3.1 document served at ``/openapi.json``.

Built from the same pydantic models the handlers validate with, on first
use (never at import: that would cost cold-start time on every Worker).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.models import CreateJobRequest, TimingsDocument, ErrorBody, JobList, JobView, LegacyResult, WebhookSecretView

_REF = "#/components/schemas/{model}"


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, **_json("ErrorBody")}
    if headers:
        out["headers"] = headers
    return out


_JOB_ID_PARAM = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
_AUTH = _error(
    "missing or wrong bearer token (one answer for both)",
    {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
)
_RETRY_AFTER = {"Retry-After": {"required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
_IDEMPOTENCY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Repeat a request safely: the same key and body return the same job (200);"
    " the same key with another body is a 422. Scoped to the tenant; lives as long as its job.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x21-\\x7e]+$"},
}
_SIGNED_PARAMS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": "Part of a signed audioUrl; with it no bearer token is needed.",
        "schema": schema,
    }
    for name, schema in (
        ("expires", {"type": "string", "pattern": "^[0-9]{1,12}$"}),
        ("t", {"type": "string", "maxLength": 32}),
        ("signature", {"type": "string", "maxLength": 64}),
    )
]
_AUDIO = {"content": {"audio/*": {"schema": {"type": "string", "format": "binary"}}}}


def _timings_path(summary: str, content: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "parameters": [_JOB_ID_PARAM],
        "get": {
            "summary": f"{summary}, for a job submitted with \"timestamps\": \"word\"."
            " Cues: at most 42 characters and 5 s each, broken after sentences (docs/captions.md)."
            " With a signed link's expires and signature (the audioUrl's), no token is needed.",
            "parameters": _SIGNED_PARAMS,
            "security": [{"bearer": []}, {}],
            "responses": {
                "200": {"description": summary, "content": content},
                "304": {"description": "not modified"},
                "403": _error("a signed link that is tampered, expired or for another job"),
                **errors,
                "404": _error("unknown, expired or another tenant's job, or one submitted without timestamps"
                              " (error.code timestamps_not_requested)"),
                "409": _error("the job is not completed"),
                "410": _error("the timings are no longer stored"),
            },
        },
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "serialization") for m in (JobView, JobList, LegacyResult, ErrorBody, WebhookSecretView, TimingsDocument)]
        + [(CreateJobRequest, "validation")],
        by_alias=True,
        ref_template=_REF,
    )
    job_ops_errors = {
        "400": _error("an unknown query parameter"),
        "401": _AUTH,
        "404": _error("unknown, expired or another tenant's job"),
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "TTS pipeline API", "version": "1.0.0"},
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/jobs": {
                "post": {
                    "summary": "Submit a text-to-speech job",
                    "parameters": [_IDEMPOTENCY_PARAM],
                    "requestBody": {"required": True, **_json("CreateJobRequest")},
                    "responses": {
                        "200": {"description": "an Idempotency-Key repeat: the job it created", **_json("JobView")},
                        "202": {"description": "queued", **_json("JobView")},
                        "400": _error("body is not JSON, a malformed Idempotency-Key, or an unknown query parameter"),
                        "401": _AUTH,
                        "413": _error("body too large"),
                        "415": _error("not application/json"),
                        "422": _error("a field is invalid (error.field names it), or an Idempotency-Key conflict"),
                        "429": _error("over the tenant's job rate or jobs in flight", _RETRY_AFTER),
                        "503": _error("queue unavailable", _RETRY_AFTER),
                    },
                },
                "get": {
                    "summary": "List the caller's jobs, newest first",
                    "parameters": [
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": {"description": "a page of jobs", **_json("JobList")},
                        "400": _error("bad limit or cursor, or an unknown query parameter"),
                        "401": _AUTH,
                    },
                },
            },
            "/v1/jobs/{job_id}": {
                "parameters": [_JOB_ID_PARAM],
                "get": {
                    "summary": "A job's status",
                    "responses": {"200": {"description": "the job", **_json("JobView")}, **job_ops_errors},
                },
                "delete": {
                    "summary": "Cancel the job and delete its audio and metadata",
                    "responses": {"204": {"description": "deleted"}, **job_ops_errors},
                },
            },
            "/v1/jobs/{job_id}/audio": {
                "parameters": [_JOB_ID_PARAM],
                "get": {
                    "summary": "The audio, streamed; honours Range (one range: 206; several: 200 with the whole audio),"
                    " If-Range (strong etag) and If-None-Match (weak comparison)."
                    " With a signed link's expires and signature, no token is needed.",
                    "parameters": _SIGNED_PARAMS,
                    "security": [{"bearer": []}, {}],
                    "responses": {
                        "200": {"description": "the audio", **_AUDIO},
                        "206": {"description": "a byte range of the audio", **_AUDIO},
                        "304": {"description": "not modified"},
                        "403": _error("a signed link that is tampered, expired or for another job"),
                        "409": _error("the job is not completed"),
                        "410": _error("the audio is no longer stored"),
                        "416": _error("a bytes range that is not valid syntax or lies outside the audio"),
                        **job_ops_errors,
                    },
                },
            },
            **{
                f"/v1/jobs/{{job_id}}/{tail}": _timings_path(summary, content, job_ops_errors)
                for tail, summary, content in (
                    ("captions.vtt", "WebVTT captions from the word timings", {"text/vtt": {"schema": {"type": "string"}}}),
                    ("captions.srt", "SRT captions from the word timings", {"application/x-subrip": {"schema": {"type": "string"}}}),
                    ("timestamps", "Word timings: one entry per word, start/end seconds, offsets into the text",
                     _json("TimingsDocument")["content"]),
                )
            },
            "/v1/jobs/{job_id}/result": {
                "parameters": [_JOB_ID_PARAM],
                "get": {
                    "summary": "Legacy result: {jobId, status, base64Audio, mimeType}",
                    "responses": {
                        "200": {"description": "the result", **_json("LegacyResult")},
                        "410": _error("the audio is no longer stored"),
                        "413": _error("the audio is over LEGACY_RESULT_MAX_BYTES: use /audio"),
                        **job_ops_errors,
                    },
                },
            },
            "/v1/webhooks/secret": {
                "get": {
                    "summary": "The caller's webhook secret(s) (whsec_...), to verify deliveries",
                    "responses": {
                        "200": {"description": "the secret, and the previous one during a key rotation",
                                **_json("WebhookSecretView")},
                        "400": _error("an unknown query parameter"),
                        "401": _AUTH,
                        "409": _error("webhooks are not enabled (no SIGNING_KEY)"),
                    },
                },
            },
            "/v1/models": {
                "get": {
                    "summary": "Models this deployment can use, and the default (`defaultModel`) a job without `model` gets",
                    "security": [],
                    "responses": {"200": {"description": "the catalogue", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
    }
