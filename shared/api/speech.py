"""``POST /v1/audio/speech``: OpenAI's speech API over the job pipeline.

A drop-in for OpenAI's "Create speech": the body is OpenAI's (``model``,
``input``, ``voice``, ``response_format``, ``speed``, ``instructions``,
``stream_format``) plus ours: ``timestamps``, and ``textType: "ssml"`` and
``lexicons`` (as on ``POST /v1/jobs``: docs/pronunciation.md); the answer is
the audio bytes with their content type (``stream_format: "sse"``: OpenAI's
speech events, shared/api/speech_sse.py),
and errors on this route are OpenAI's shape, ``{"error": {"message", "type",
"param", "code"}}``, 401 and 400 included. Each call is a normal job
(``shared.api.submission.submit_job``: listed, metered, retained, deletable; the
``X-Job-Id`` header names it) that the route waits for inside its shard
(shared/api/waiting.py), ``SPEECH_WAIT_SECONDS`` at most.

OpenAI's model and voice names map to ours by ``SPEECH_MODEL_MAP`` and
``SPEECH_VOICE_MAP`` (shared/config.py; docs/openai.md): a model in the map
becomes its value ("" is the deployment's default model), any other is taken
as our own id. A voice the model has is used as is; else a mapped voice the
model has; else one of OpenAI's voice names becomes the model's default
voice; anything else is a 400. A custom voice (``{"id": ...}``) is the voice
of that id. Without ``response_format`` the answer is ``mp3`` where the model
makes it here (OpenAI's default), else the model's default format.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.api import speech_sse, waiting
from shared.api.auth import authenticate
from shared.api.errors import ApiError, storage_unavailable
from shared.api.jobs import _json_body, own
from shared.api.submission import submit_job
from shared.api.idempotency import idempotency_key
from shared.api.request_limits import body_limit, check_query
from shared.api.views import job_path
from shared.http import HttpRequest, HttpResponse
from shared.errors import StorageUnavailableError
from shared.models import CreateJobRequest, JobRecord, JobStatus, LexiconName
from shared.errors import CatalogueError

if TYPE_CHECKING:
    from shared.dependencies import Dependencies

# OpenAI's voices (its API reference, "Create speech"): a client may send any of them.
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer", "verse", "marin", "cedar",
)
# Our error fields -> OpenAI's parameter names.
_PARAM = {"text": "input", "voiceId": "voice", "format": "response_format", "model": "model", "speed": "speed",
          "instructions": "instructions", "sampleRate": "response_format", "lexicons": "lexicons",
          "textType": "textType"}


OPENAI_DEFAULT_FORMAT = "mp3"


class CustomVoice(BaseModel):
    """OpenAI's custom voice reference, ``{"id": "voice_1234"}``: here, a voice id of the model."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=200)


class SpeechRequest(BaseModel):
    """OpenAI's "Create speech" body, plus ours as on ``POST /v1/jobs``: ``timestamps``, ``textType``, ``lexicons``,
    ``cache``."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    input: str = Field(min_length=1)
    voice: Annotated[str, Field(min_length=1, max_length=200)] | CustomVoice
    response_format: str | None = Field(default=None, max_length=20)
    speed: float | None = Field(default=None, ge=0.25, le=4.0)
    instructions: str | None = Field(default=None, max_length=4096)
    stream_format: Literal["audio", "sse"] | None = None
    timestamps: Literal["word"] | None = None
    # Ours, not OpenAI's (docs/pronunciation.md): SSML input and the caller's lexicons, as on POST /v1/jobs.
    textType: Literal["text", "ssml"] | None = None  # noqa: N815 - the wire name, as on /v1/jobs
    lexicons: list[LexiconName] | None = Field(default=None, min_length=1, max_length=100)
    cache: bool | None = None  # false: skip the synthesis cache, as on POST /v1/jobs

    @property
    def voice_name(self) -> str:
        return self.voice if isinstance(self.voice, str) else self.voice.id


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> HttpResponse:
    if status == 401:
        kind = "invalid_request_error"
    elif status == 403:
        kind = "permission_error"
    elif status == 429:
        kind = "rate_limit_error"
    elif status >= 500:
        kind = "server_error"
    else:
        kind = "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return HttpResponse.json(status, body, headers)


def _from_api_error(exc: ApiError) -> HttpResponse:
    """Our ``ApiError`` in OpenAI's shape; a 422 (ours) is OpenAI's 400."""
    status = 400 if exc.status == 422 else exc.status
    code = "invalid_api_key" if exc.status == 401 else exc.code
    param = _PARAM.get(exc.field, exc.field) if exc.field else None
    message = exc.message
    for ours, theirs in (("voiceId", "voice"), ("text:", "input:"), ("format", "response_format")):
        if param == theirs:
            message = message.replace(ours, theirs)
    return openai_error(status, message, param=param, code=code, headers=exc.headers)


def map_model(deps: Dependencies, model: str) -> str | None:
    """OpenAI's model name -> our model id (None: the default model); our own ids pass as they are."""
    mapped = deps.settings.speech_model_map.get(model, model)
    return mapped or None


def map_voice(deps: Dependencies, voice: str, voices: list[str], default_voice: str) -> str:
    """OpenAI's voice name -> one of the model's ``voices`` (see the module doc)."""
    if voice in voices:
        return voice
    mapped = deps.settings.speech_voice_map.get(voice)
    if mapped and mapped in voices:
        return mapped
    if voice in OPENAI_VOICES or voice in deps.settings.speech_voice_map:
        return default_voice
    raise ApiError(422, "invalid_voice", f"voice {voice!r} is not one of this model's voices: {', '.join(voices)}"
                   " (nor an OpenAI voice name)", field="voiceId")


def to_job_request(deps: Dependencies, body: SpeechRequest) -> CreateJobRequest:
    model = map_model(deps, body.model)
    try:
        spec = deps.catalogue.validate(model).spec
    except CatalogueError as exc:
        raise ApiError(422, "model_not_found", str(exc), field="model") from exc
    voice = map_voice(deps, body.voice_name, spec.voices, spec.default_voice)
    # OpenAI's default speed is 1.0: the model's own pace, whether or not it takes a speed.
    speed = None if body.speed is None or body.speed == 1.0 else body.speed
    fmt = body.response_format
    if fmt is None and OPENAI_DEFAULT_FORMAT in spec.formats:
        fmt = OPENAI_DEFAULT_FORMAT
    try:
        return CreateJobRequest(
            text=body.input, model=spec.id, voice_id=voice, format=fmt, speed=speed,
            instructions=body.instructions or None, timestamps=body.timestamps, text_type=body.textType,
            lexicons=body.lexicons, cache=body.cache,
        )
    except ValidationError as exc:  # e.g. a response_format that is no format name at all
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first.get("loc", ())) or None
        raise ApiError(422, "invalid_value", f"{_PARAM.get(field or '', field)}: {first.get('msg')}", field=field) from exc


async def create_speech(request: HttpRequest, deps: Dependencies) -> HttpResponse:
    try:
        return await _create_speech(request, deps)
    except ApiError as exc:
        return _from_api_error(exc)
    except StorageUnavailableError as exc:
        deps.log.warning("storage_unavailable", path=request.path, condition=exc.condition, error=exc.detail[:300])
        return _from_api_error(storage_unavailable(exc.condition))


async def _create_speech(request: HttpRequest, deps: Dependencies) -> HttpResponse:
    tenant = authenticate(request, deps.settings)  # first: a 401 reveals nothing else
    check_query(request, ())
    key = idempotency_key(request)
    data = _json_body(request, max_bytes=body_limit(deps.settings))
    try:
        body = SpeechRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first.get("loc", ())
        param = str(loc[0]) if loc else None  # "voice", not "voice.str" (a union's branch)
        message = f"{param}: {first.get('msg')}" if param else str(first.get("msg"))
        return openai_error(400, message, param=param, code="invalid_value")
    submitted = await submit_job(deps, tenant, to_job_request(deps, body), key)
    job_id = submitted.record.job_id
    record = submitted.record
    if body.stream_format == "sse":
        headers = {"X-Job-Id": job_id, "Location": job_path(job_id)}
        return await speech_sse.speech_events(deps, record, headers, openai_error)
    if not record.status.is_terminal:
        waited = await waiting.until_final(deps, tenant, job_id, deps.settings.speech_wait_seconds)
        if waited.outcome in ("busy", "shutdown") and (waited.record is None or not waited.record.status.is_terminal):
            return _unwaited(job_id, waited.outcome)
        record = own(deps, tenant, job_id, waited.record)
    return await _answer(deps, record)


def _unwaited(job_id: str, outcome: str) -> HttpResponse:
    """The job was made but is not waited for: the tenant holds its share of its shard's waits
    (429), or the server is shutting down (503). Never retried by the client: a retry would make
    another job; this one is fetched later from its ``Location``."""
    job = {"X-Job-Id": job_id, "Location": job_path(job_id), "x-should-retry": "false"}
    if outcome == "busy":
        return openai_error(
            429, f"job {job_id} was created, but this account already holds its share of the waits open on its"
            f" shard; fetch the audio later from {job_path(job_id)}/audio",
            code="too_many_waiters", headers={**job, "Retry-After": str(waiting.BUSY_RETRY_AFTER)},
        )
    return openai_error(
        503, f"the server is shutting down; job {job_id} was created and continues: fetch the audio later from"
        f" {job_path(job_id)}/audio", code="shutting_down", headers=job,
    )


async def _answer(deps: Dependencies, record: JobRecord) -> HttpResponse:
    job = {"X-Job-Id": record.job_id, "Location": job_path(record.job_id), "x-should-retry": "false"}
    if record.status is JobStatus.COMPLETED and record.audio_key:
        blob = await deps.bucket.get(record.audio_key)
        if blob is None:
            return openai_error(500, "the audio of this job is no longer stored", code="audio_gone", headers=job)
        headers = {
            "Content-Type": record.mime_type or "application/octet-stream",
            "Content-Length": str(blob.info.size),
            "X-Job-Id": record.job_id,
            "Location": job_path(record.job_id),
        }
        response = HttpResponse.empty(200, headers)
        response.blob = blob
        return response
    if record.status is JobStatus.FAILED:
        return openai_error(500, f"synthesis failed: {record.error or 'unknown error'} (job {record.job_id})",
                            code="synthesis_failed", headers=job)
    if record.status is JobStatus.CANCELED:
        return openai_error(409, f"job {record.job_id} was canceled", code="job_canceled", headers=job)
    return openai_error(
        504,
        f"job {record.job_id} is still {record.status.value} after SPEECH_WAIT_SECONDS"
        f" ({deps.settings.speech_wait_seconds} s); fetch it later from {job_path(record.job_id)}/audio",
        code="timeout",
        headers=job,
    )

