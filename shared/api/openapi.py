"""The OpenAPI 3.1 document served at ``/openapi.json``.

Built from the same pydantic models the handlers validate with, on first
use (never at import: that would cost cold-start time on every Worker).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from shared.api.speech import SpeechRequest
from shared.models import (
    CreateJobRequest,
    ErrorBody,
    JobList,
    JobView,
    LegacyResult,
    LexiconDocument,
    LexiconList,
    LexiconUpload,
    LexiconView,
    TimingsDocument,
    WebhookSecretView,
)
from shared.models import LEXICON_NAME_PATTERN, MAX_INPUTS

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
_PREFER_PARAM = {
    "name": "Prefer",
    "in": "header",
    "required": False,
    "description": "RFC 7240 `wait=N`: hold the answer until the job is finished, at most N seconds"
    " (capped by MAX_WAIT_SECONDS): 200 with the finished job if it ends in time, else the usual 202."
    " `Preference-Applied: wait=N` says the wait was honoured and for how long. Other preferences are ignored"
    " (RFC 7240), so any value is accepted.",
    "schema": {"type": "string"},
}
_PREFERENCE_APPLIED = {
    "Preference-Applied": {"required": False, "schema": {"type": "string", "pattern": "^wait=[0-9]+$"}}
}
_WAIT_PARAM = {
    "name": "wait",
    "in": "query",
    "required": False,
    "description": "Long-poll: answer as soon as the job's status or progress (chunks done) changes from what"
    " it is now, or after this many seconds (capped by MAX_WAIT_SECONDS) with the job as it is. The job's"
    " shard holds the call; nothing polls.",
    "schema": {"type": "integer", "minimum": 0, "maximum": 999999999},
}
_STREAM_PARAM = {
    "name": "stream",
    "in": "query",
    "required": False,
    "description": "1: for a job synthesized in several chunks and not yet completed, send each chunk as soon"
    " as it is stored (chunked transfer, no Content-Length; WAV with a streaming header whose RIFF and data"
    " sizes are 0xFFFFFFFF). A completed job, or one of a single request, gets the normal audio once completed.",
    "schema": {"type": "string", "enum": ["0", "1", "true", "false"]},
}
_INPUT_PARAM = {
    "name": "input",
    "in": "query",
    "required": False,
    "description": "N (from 0): for a job submitted with inputs, only input N's audio, as a playable file of its"
    " own (WAV: its own header, sent as read, no Content-Length; PCM and MP3: the input's bytes of the joined"
    " file, cut at its first and last chunk). Formats encoded once from the joined audio (opus, aac, flac)"
    " answer 409 input_not_separable. Range is not taken with input.",
    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_INPUTS - 1},
}
_KIND_PARAM = {
    "name": "kind",
    "in": "query",
    "required": False,
    "description": "captions (the default), or chapters on /captions.vtt of a job submitted with inputs: the"
    " WebVTT chapters track (one cue per input, identified chapter-N, its title as text).",
    "schema": {"type": "string", "enum": ["captions", "chapters"]},
}
# OpenAI's error body, on POST /v1/audio/speech only.
_OPENAI_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def _openai_error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": description, **_json("OpenAIErrorBody")}
    if headers:
        out["headers"] = headers
    return out


_LAST_EVENT_ID_PARAM = {
    "name": "Last-Event-ID",
    "in": "header",
    "required": False,
    "description": "Resume after this change (the id of the last event seen): what EventSource sends on reconnecting.",
    "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
}
_MODEL_SCHEMA = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "root": {"type": "string", "description": "for an OpenAI model name: the model it maps to"},
    },
}
_MODEL_LIST_SCHEMA = {
    "type": "object",
    "required": ["object", "data", "defaultModel", "models"],
    "properties": {
        "object": {"const": "list"},
        "data": {"type": "array", "items": _MODEL_SCHEMA},
        "defaultModel": {"type": ["string", "null"]},
        "models": {"type": "array", "items": {"type": "object"}},
    },
}
_VOICES_SCHEMA = {
    "type": "object",
    "required": ["voices"],
    "properties": {
        "voices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "name", "model", "language", "default"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "model": {"type": "string"},
                    "language": {"type": ["string", "null"], "description": "BCP 47, where known"},
                    "default": {"type": "boolean"},
                    "aliasOf": {"type": "string", "description": "for an OpenAI voice name: the model's voice it becomes"},
                },
            },
        }
    },
}
_JOB_HEADER = {"X-Job-Id": {"required": True, "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}}


def _timings_path(summary: str, content: dict[str, Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "parameters": [_JOB_ID_PARAM],
        "get": {
            "summary": f"{summary}, for a job submitted with \"timestamps\": \"word\" or with inputs (a job"
            " with inputs has chapters, one per input: in the timings JSON, as NOTE blocks in the WebVTT"
            " captions and as the WebVTT chapters track with kind=chapters; words only with timestamps)."
            " Cues: at most 42 characters and 5 s each, broken after sentences (docs/captions.md)."
            " With a signed link's expires and signature (the audioUrl's), no token is needed.",
            "parameters": [*_SIGNED_PARAMS, _KIND_PARAM],
            "security": [{"bearer": []}, {}],
            "responses": {
                "200": {"description": summary, "content": content},
                "304": {"description": "not modified"},
                "403": _error("a signed link that is tampered, expired or for another job"),
                **errors,
                "400": _error("kind is not captions or chapters (chapters: only on captions.vtt of a job with"
                              " inputs; error.code invalid_kind), or an unknown query parameter"),
                "404": _error("unknown, expired or another tenant's job, or one submitted without timestamps"
                              " or inputs (error.code timestamps_not_requested)"),
                "409": _error("the job is not completed"),
                "410": _error("the timings are no longer stored"),
            },
        },
    }


_LEXICON_NAME_PARAM = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": LEXICON_NAME_PATTERN},
}
_PLS = {"application/pls+xml": {"schema": {"type": "string", "description": "A W3C PLS 1.0 document"}}}


def _lexicon_paths() -> dict[str, Any]:
    """``/v1/lexicons`` (shared/api/lexicons.py, docs/pronunciation.md)."""
    return {
        "/v1/lexicons": {
            "get": {
                "summary": "The caller's pronunciation lexicons, by name",
                "responses": {
                    "200": {"description": "the lexicons", **_json("LexiconList")},
                    "400": _error("an unknown query parameter"),
                    "401": _AUTH,
                },
            },
        },
        "/v1/lexicons/{name}": {
            "parameters": [_LEXICON_NAME_PARAM],
            "put": {
                "summary": "Upload (or replace) a lexicon: a W3C PLS document or JSON rules; use it on any job or"
                " speech request with \"lexicons\": [name]. Jobs already submitted keep the version they read.",
                "requestBody": {
                    "required": True,
                    "content": {**_PLS, **_json("LexiconUpload")["content"]},
                },
                "responses": {
                    "200": {"description": "replaced the lexicon of that name", **_json("LexiconView")},
                    "201": {"description": "a new lexicon", **_json("LexiconView")},
                    "400": _error("a bad document: error.line and error.column (PLS; a DTD, entity or external"
                                  " reference is refused) or error.rule (JSON) name the problem; or a bad name"),
                    "401": _AUTH,
                    "409": _error("the tenant has MAX_LEXICONS lexicons (error.code too_many_lexicons)"),
                    "413": _error("over MAX_LEXICON_BYTES"),
                    "415": _error("neither application/pls+xml nor application/json"),
                    "429": _error("replaced too often: its old versions are kept for running jobs", _RETRY_AFTER),
                },
            },
            "get": {
                "summary": "A lexicon and its rules (with Accept: application/pls+xml, the PLS document as uploaded)",
                "responses": {
                    "200": {"description": "the lexicon", "content": {**_json("LexiconDocument")["content"], **_PLS}},
                    "400": _error("a bad name, or an unknown query parameter"),
                    "401": _AUTH,
                    "404": _error("no lexicon of that name"),
                },
            },
            "delete": {
                "summary": "Delete a lexicon (jobs already submitted with it still read their version)",
                "responses": {
                    "204": {"description": "deleted"},
                    "400": _error("a bad name, or an unknown query parameter"),
                    "401": _AUTH,
                    "404": _error("no lexicon of that name"),
                },
            },
        },
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [(m, "serialization") for m in (JobView, JobList, LegacyResult, ErrorBody, WebhookSecretView, TimingsDocument,
                                          LexiconView, LexiconList, LexiconDocument)]
        + [(CreateJobRequest, "validation"), (SpeechRequest, "validation"), (LexiconUpload, "validation")],
        by_alias=True,
        ref_template=_REF,
    )
    storage_errors = {
        "503": _error("storage unavailable now (error.condition: locked, io_error, read_only); nothing changed",
                      _RETRY_AFTER),
        "507": _error("the service's storage is full (error.condition: disk_full); nothing changed", _RETRY_AFTER),
    }
    job_ops_errors = {
        "400": _error("an unknown query parameter"),
        "401": _AUTH,
        "404": _error("unknown, expired or another tenant's job"),
        **storage_errors,
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "TTS pipeline API", "version": "1.0.0"},
        "components": {
            "schemas": {**schemas.get("$defs", {}), "OpenAIErrorBody": _OPENAI_ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/jobs": {
                "post": {
                    "summary": "Submit a text-to-speech job",
                    "parameters": [_IDEMPOTENCY_PARAM, _PREFER_PARAM],
                    "requestBody": {"required": True, **_json("CreateJobRequest")},
                    "responses": {
                        "200": {"description": "an Idempotency-Key repeat: the job it created; the job completed"
                                " at submit from the synthesis cache (cache.hit true: no provider call, no queue"
                                " message); or, with Prefer: wait=N, the job finished (completed, failed or"
                                " canceled) within N s",
                                "headers": _PREFERENCE_APPLIED, **_json("JobView")},
                        "202": {"description": "queued (with Prefer: wait=N: not finished within N s)",
                                "headers": _PREFERENCE_APPLIED, **_json("JobView")},
                        "401": _AUTH,
                        "413": _error("body too large"),
                        "415": _error("not application/json"),
                        "400": _error("body is not JSON, a malformed Idempotency-Key, an unknown query parameter,"
                                      " or textType ssml with invalid markup (error.line and error.column)"),
                        "422": _error("a field is invalid (error.field names it: an unknown lexicon, a phoneme the"
                                      " model cannot say; deliver.url with error.code unsafe_deliver_url when the"
                                      " URL is refused: not https, private or loopback host, credentials in it),"
                                      " or an Idempotency-Key conflict"),
                        "429": _error("over the tenant's job rate or jobs in flight", _RETRY_AFTER),
                        **storage_errors,
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
                        **storage_errors,
                    },
                },
            },
            "/v1/jobs/{job_id}": {
                "parameters": [_JOB_ID_PARAM],
                "get": {
                    "summary": "A job's status; with ?wait=N, once it changes (a long-poll)",
                    "parameters": [_WAIT_PARAM],
                    "responses": {"200": {"description": "the job", **_json("JobView")},
                                  **job_ops_errors, "400": _error("wait is not a number, or an unknown query parameter"),
                                  "429": _error("with ?wait: the tenant holds its share of the waits open on the"
                                                " job's shard (code too_many_waiters)", _RETRY_AFTER)},
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
                    "parameters": [*_SIGNED_PARAMS, _STREAM_PARAM, _INPUT_PARAM],
                    "security": [{"bearer": []}, {}],
                    "responses": {
                        "200": {"description": "the audio (with stream=1: as it is made; with input=N: that input's)",
                                **_AUDIO},
                        "206": {"description": "a byte range of the audio", **_AUDIO},
                        "304": {"description": "not modified"},
                        "403": _error("a signed link that is tampered, expired or for another job"),
                        "409": _error("the job is not completed; or, with input, its format cannot be cut into"
                                      " inputs (error.code input_not_separable)"),
                        "410": _error("the audio is no longer stored"),
                        "416": _error("a bytes range that is not valid syntax or lies outside the audio"),
                        **job_ops_errors,
                        "400": _error("input is not an index of the job's inputs, or the job has none"
                                      " (error.code invalid_input), or an unknown query parameter"),
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
            "/v1/audio/speech": {
                "post": {
                    "summary": "OpenAI's Create speech: the audio bytes of a job made and waited for"
                    " (a normal job: listed, metered, retained, deletable; X-Job-Id names it)."
                    " OpenAI's model and voice names map to ours (SPEECH_MODEL_MAP, SPEECH_VOICE_MAP,"
                    " docs/openai.md); errors are OpenAI's shape.",
                    "parameters": [_IDEMPOTENCY_PARAM],
                    "requestBody": {"required": True, **_json("SpeechRequest")},
                    "responses": {
                        "200": {"description": "the audio, in response_format (else mp3 where the model makes it,"
                                " else the model's default format); with stream_format sse, OpenAI's speech events"
                                " (speech.audio.delta, our speech.audio.words with timestamps, speech.audio.done)",
                                "headers": _JOB_HEADER,
                                "content": {**_AUDIO["content"], "text/event-stream": {"schema": {"type": "string"}}}},
                        "400": _openai_error("not JSON, an unknown or invalid field (error.param names it),"
                                             " a format, voice or model this deployment does not have"),
                        "401": _openai_error("missing or wrong bearer token (code invalid_api_key)"),
                        "404": _openai_error("the job was deleted while it was made"),
                        "409": _openai_error("the job was canceled while it was made", _JOB_HEADER),
                        "413": _openai_error("body too large"),
                        "415": _openai_error("not application/json"),
                        "429": _openai_error("over the tenant's job rate or jobs in flight; or (code"
                                             " too_many_waiters, X-Job-Id) the job was made but the tenant holds its"
                                             " share of the waits open on its shard", _RETRY_AFTER),
                        "500": _openai_error("the synthesis failed (code synthesis_failed)", _JOB_HEADER),
                        "503": _openai_error("storage unavailable now (code storage_unavailable; nothing made), or"
                                             " the server is shutting down (code shutting_down, X-Job-Id: the job"
                                             " goes on)", _RETRY_AFTER),
                        "507": _openai_error("the service's storage is full (code storage_full); nothing made",
                                             _RETRY_AFTER),
                        "504": _openai_error("not finished within SPEECH_WAIT_SECONDS (code timeout; the job"
                                             " goes on: fetch /v1/jobs/{X-Job-Id}/audio later)", _JOB_HEADER),
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
            **_lexicon_paths(),
            "/v1/jobs/{job_id}/events": {
                "parameters": [_JOB_ID_PARAM],
                "get": {
                    "summary": "The job's changes as server-sent events: `event: job`, `id:` the job's change counter,"
                    " `data:` the job as GET /v1/jobs/{job_id} answers; the first at once, the last at a final state,"
                    " then the stream ends. The job's shard answers each change; nothing polls.",
                    "parameters": [_LAST_EVENT_ID_PARAM],
                    "responses": {
                        "200": {"description": "the event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
                        **job_ops_errors,
                        "400": _error("Last-Event-ID is not an id of this stream, or an unknown query parameter"),
                    },
                },
            },
            "/v1/audio/voices": {
                "get": {
                    "summary": "Every voice of every model this deployment offers, and the OpenAI voice names each"
                    " model takes (aliasOf: the voice they become)",
                    "security": [],
                    "parameters": [{"name": "model", "in": "query", "required": False,
                                    "description": "Only this model's voices (our id or an OpenAI model name)",
                                    "schema": {"type": "string"}}],
                    "responses": {
                        "200": {"description": "the voices", "content": {"application/json": {"schema": _VOICES_SCHEMA}}},
                        "400": _openai_error("an unknown model, or an unknown query parameter"),
                    },
                },
            },
            "/v1/models": {
                "get": {
                    "summary": "Models this deployment can use: OpenAI's list (`object`, `data`; SPEECH_MODEL_MAP's"
                    " names with `root`, the model they map to) beside ours (`models`, and `defaultModel`,"
                    " the model a job without `model` gets)",
                    "security": [],
                    "responses": {"200": {"description": "the catalogue",
                                          "content": {"application/json": {"schema": _MODEL_LIST_SCHEMA}}},
                                  "400": _error("an unknown query parameter")},
                }
            },
            "/v1/models/{model_id}": {
                "get": {
                    "summary": "One model as OpenAI's model object (our models with their spec too)",
                    "security": [],
                    "parameters": [{"name": "model_id", "in": "path", "required": True,
                                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9@/._:+-]{1,100}$"}}],
                    "responses": {
                        "200": {"description": "the model", "content": {"application/json": {"schema": _MODEL_SCHEMA}}},
                        "400": _error("an unknown query parameter"),
                        "404": _openai_error("no such model here (code model_not_found)"),
                    },
                },
            },
        },
    }
