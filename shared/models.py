"""Pydantic models for every edge: HTTP bodies, queue messages, RPC payloads.

JSON uses the old system's camelCase names (``jobId``, ``voiceId``,
``mimeType``, ``base64Audio``, ``createdAt``); Python uses snake_case.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Annotated, Any, Literal, overload

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from pydantic.alias_generators import to_camel

JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
JobId = Annotated[str, StringConstraints(pattern=JOB_ID_PATTERN)]
# Names that travel into headers and R2 metadata: printable ASCII only, so a
# model or voice can never smuggle a CR/LF into a header.
SafeName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9@/._:+-]{1,100}$")]
LEXICON_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
LexiconName = Annotated[str, StringConstraints(pattern=LEXICON_NAME_PATTERN)]


class JobStatus(str, Enum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class WebhookEvent(str, Enum):
    """What a webhook can announce: the job reached this final state."""

    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    DELIVERY = "delivery"  # a completed job's deliver.url delivery ended (delivered or failed)


EVENT_OF_STATUS = {
    JobStatus.COMPLETED: WebhookEvent.COMPLETED,
    JobStatus.FAILED: WebhookEvent.FAILED,
    JobStatus.CANCELED: WebhookEvent.CANCELED,
}


class CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- HTTP --------------------------------------------------------------------

MAX_INPUTS = 1000
"""Inputs of one multi-input job (``inputs``), at most."""
MAX_GAP_MS = 10_000
"""Silence between two inputs (``gapMs``), at most: 10 s."""
MAX_INPUT_TITLE_CHARS = 200
INPUT_SEPARATOR = "\n\n"
"""Between the inputs' texts in a multi-input job's stored text (what timings' char offsets point into)."""


def _unicode(value: str) -> str:
    # JSON can carry lone surrogates ("\ud800"); they cannot be stored as UTF-8.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode (no lone surrogates)") from exc
    return value


class JobInput(CamelModel):
    """One input of a multi-input job: its text, and optionally its own voice and a chapter title."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    text: str = Field(min_length=1, description="Text of this input (plain text).")
    voice_id: SafeName | None = Field(default=None, description="This input's voice; the job's voiceId when absent.")
    title: str | None = Field(
        default=None, max_length=MAX_INPUT_TITLE_CHARS,
        description="The chapter's title in the timings and captions; 'Input N' (from 1) when absent.",
    )

    @field_validator("text", "title")
    @classmethod
    def _is_unicode(cls, value: str | None) -> str | None:
        return _unicode(value) if value is not None else None


DeliveryState = Literal["pending", "delivering", "delivered", "failed"]


class DeliverTarget(CamelModel):
    """``deliver`` of ``POST /v1/jobs``: where the finished audio is PUT (shared/delivery.py)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=2048,
        description="A presigned PUT URL (S3, R2, GCS, Azure SAS, ...): https to a public host, as webhookUrl."
        " A secret: stored with the job, never shown or logged.",
    )
    headers: dict[str, str] | None = Field(
        default=None,
        description="Headers to send with the PUT (those the URL's signature covers, such as Content-Type):"
        " at most 20, 8 KiB in all; hop-by-hop headers, Host, Content-Length and User-Agent are refused."
        " Never shown.",
    )

    @field_validator("headers")
    @classmethod
    def _headers_allowed(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        from shared.security.delivery_headers import check_delivery_headers

        return check_delivery_headers(value) if value is not None else None


class FieldValueError(ValueError):
    """A rule over several fields that names the one to fix (the API error's ``field``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class CreateJobRequest(CamelModel):
    """Body of ``POST /v1/jobs``."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    text: str | None = Field(
        default=None, min_length=1, description="Text to speak; at most MAX_TEXT_CHARS characters. Exactly one of"
        " text and inputs."
    )
    inputs: list[JobInput] | None = Field(
        default=None, min_length=1, max_length=MAX_INPUTS,
        description=f"Several texts joined into one audio file, in order, each with its own voice if wanted (at"
        f" most {MAX_INPUTS}; their texts together at most MAX_TEXT_CHARS characters). Exactly one of text and"
        " inputs. The timings and captions carry one chapter per input; GET /v1/jobs/{jobId}/audio?input=N"
        " serves one input's audio.",
    )
    gap_ms: int | None = Field(
        default=None, ge=0, le=MAX_GAP_MS,
        description=f"Milliseconds of silence between two inputs (0 to {MAX_GAP_MS}; 0 when absent). Only with inputs.",
    )
    model: SafeName | None = Field(default=None, description="Model id; DEFAULT_MODEL when absent.")
    voice_id: SafeName | None = Field(default=None, description="Voice of the model; its default when absent.")
    format: SafeName | None = Field(default=None, description="Audio format; the model's default when absent.")
    ttl_seconds: int | None = Field(
        default=None, ge=60, description="How long the finished job and its audio live (capped by the server)."
    )
    sample_rate: int | None = Field(
        default=None, ge=1, le=384_000, description="Sample rate in Hz; the model's default for the format when absent."
    )
    speed: float | None = Field(
        default=None, gt=0, le=10, description="Speaking rate (1.0 is normal); only models with a speedRange take it."
    )
    instructions: str | None = Field(
        default=None,
        min_length=1,
        max_length=4096,
        description="How to speak (tone, pace, accent); only models that supportsInstructions take it.",
    )
    webhook_url: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="https URL to POST to when the job finishes, signed as Standard Webhooks (docs/security.md).",
    )
    webhook_events: list[WebhookEvent] | None = Field(
        default=None,
        min_length=1,
        max_length=4,
        description="Which events to announce: the final states, and 'delivery' (a deliver.url delivery"
        " ended); all of them when absent.",
    )
    deliver: DeliverTarget | None = Field(
        default=None,
        description="PUT the finished audio to this presigned URL (retried with backoff; the job view's"
        " 'delivery' shows how it went, and the 'delivery' webhook event says when it ended).",
    )
    cancel_after_seconds: int | None = Field(
        default=None,
        ge=1,
        le=30 * 86_400,
        description="Deadline: a job no worker has started this many seconds after submission is canceled.",
    )
    timestamps: Literal["word"] | None = Field(
        default=None,
        description="'word': also make word timings and captions (/timestamps, /captions.vtt, /captions.srt);"
        " the model's 'timestamps' in /v1/models says whether they are exact or estimated.",
    )
    text_type: Literal["text", "ssml"] | None = Field(
        default=None,
        description="'ssml': text is SSML (speak, p, s, break, sub, say-as, phoneme, emphasis, prosody;"
        " docs/pronunciation.md); absent or 'text': plain text.",
    )
    lexicons: list[LexiconName] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Names of the caller's lexicons (PUT /v1/lexicons/{name}) to apply, in order: the first"
        " matching rule wins.",
    )

    cache: bool | None = Field(
        default=None,
        description="false: synthesize anew, neither reusing nor keeping audio in the synthesis cache"
        " (SYNTHESIS_CACHE); absent or true: reuse chunks made before with the same settings.",
    )

    @field_validator("lexicons")
    @classmethod
    def _lexicons_once(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("each lexicon may be named once")
        return value

    @field_validator("text")
    @classmethod
    def _text_is_unicode(cls, value: str | None) -> str | None:
        return _unicode(value) if value is not None else None

    @model_validator(mode="after")
    def _text_or_inputs(self) -> CreateJobRequest:
        if self.text is None and self.inputs is None:
            raise FieldValueError("text", "text is required (or inputs, a list of texts)")
        if self.text is not None and self.inputs is not None:
            raise FieldValueError("inputs", "give exactly one of text and inputs")
        if self.gap_ms is not None and self.inputs is None:
            raise FieldValueError("gapMs", "gapMs goes with inputs (the silence between them)")
        return self

    def joined_text(self) -> str:
        """The text to speak: ``text``, or the inputs' texts joined by ``INPUT_SEPARATOR``."""
        if self.inputs is None:
            return self.text or ""
        return INPUT_SEPARATOR.join(i.text for i in self.inputs)


class WebhookView(CamelModel):
    """A job's webhook and the outcome of its last delivery attempt."""

    url: str
    events: list[WebhookEvent]
    status: Literal["waiting", "skipped", "pending", "delivered", "failed"]
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_at: datetime | None = None


class DeliveryView(CamelModel):
    """How the delivery of a job's audio to its ``deliver.url`` goes (the URL itself is never shown)."""

    state: DeliveryState = Field(
        description="pending (waiting for the job to complete, or for the next attempt), delivering (an"
        " attempt is under way), delivered (the receiver answered 2xx), failed (attempts ran out, the URL was"
        " refused, or the job did not complete)."
    )
    attempts: int = Field(default=0, description="PUT attempts made so far.")
    last_error: str | None = Field(default=None, description="Why the last attempt failed (never the URL).")


class JobProgress(CamelModel):
    """Chunks of a long job synthesized so far, out of how many."""

    done: int = Field(description="Chunks synthesized and stored so far.")
    total: int = Field(
        description="Chunks the text was cut into (one provider request each). When done equals total and "
        "the job is still processing, the chunks are being joined into one file."
    )
    inputs_done: int | None = Field(
        default=None, description="A job with inputs: inputs whose every chunk is synthesized and stored."
    )
    inputs_total: int | None = Field(default=None, description="A job with inputs: how many inputs it has.")


class JobView(CamelModel):
    """A job as ``GET /v1/jobs/{jobId}`` shows it."""

    job_id: str = Field(description="The job's id: 32 lowercase hex digits.")
    status: JobStatus = Field(
        description="queued (waiting for a worker), processing, then completed or failed; canceled when "
        "not finished by its deadline (cancelAfterSeconds)."
    )
    model: str = Field(description="The model that speaks the text (GET /v1/models).")
    voice_id: str | None = Field(default=None, description="The model's voice.")
    format: str = Field(description="The audio format asked for: wav, pcm, mp3, ...")
    sample_rate: int | None = Field(default=None, description="Samples per second of the audio, when the format has a rate.")
    created_at: datetime = Field(description="When the job was submitted (UTC).")
    updated_at: datetime = Field(description="When the job last changed: status, progress or delivery.")
    started_at: datetime | None = Field(default=None, description="When a worker first took the job.")
    completed_at: datetime | None = Field(default=None, description="When the job reached a final status.")
    expires_at: datetime | None = Field(
        default=None, description="When the job and its audio are deleted (404 from then on)."
    )
    attempts: int = Field(default=0, description="How many times a worker has taken the job (retries included).")
    characters: int = Field(
        default=0,
        description="Characters sent to the provider so far, summed over its requests: the count "
        "per-character pricing bills. 0 until synthesis starts; a long text is sent in chunks without the "
        "whitespace between them, so the final count can be a little under the text's length "
        "(Gemini's instructions, sent with every request, add to it).",
    )
    progress: JobProgress | None = Field(
        default=None, description="Chunks done of a text that needs several provider requests; absent otherwise."
    )
    error: str | None = Field(default=None, description="Why the job failed or was canceled.")
    mime_type: str | None = Field(default=None, description="The audio's media type, once completed.")
    size_bytes: int | None = Field(default=None, description="The audio's size in bytes, once completed.")
    audio_url: str | None = Field(
        default=None,
        description="Where to get the audio, once completed: a signed link (no token needed) when the "
        "server signs links, else a path that needs the bearer token.",
    )
    result_url: str | None = Field(
        default=None, description="The old contract's result: {jobId, status, base64Audio, mimeType}."
    )
    deadline_at: datetime | None = Field(
        default=None, description="The job is canceled if not finished by then (cancelAfterSeconds)."
    )
    webhook: WebhookView | None = Field(default=None, description="The job's webhook and its last delivery.")
    delivery: DeliveryView | None = Field(
        default=None, description="The delivery of the audio to the job's deliver.url, when it has one."
    )
    timestamps: str | None = Field(default=None, description='"word" when word timings were asked for.')
    captions_url: str | None = Field(
        default=None, description="WebVTT captions, once completed (signed like audioUrl)."
    )
    text_type: str | None = Field(default=None, description='"ssml" when the text is SSML.')
    lexicons: list[LexiconRef] | None = Field(
        default=None, description="The lexicons applied, in order, with the version of each the job reads."
    )
    input_count: int | None = Field(
        default=None, description="A job submitted with inputs: how many (chapters in the timings and captions)."
    )
    gap_ms: int | None = Field(default=None, description="A job with inputs: milliseconds of silence between them.")
    cache: CacheView | None = Field(
        default=None,
        description="The synthesis cache's part in the job (absent when the job skipped the cache):"
        " chunks reused of the chunks the audio has, once completed.",
    )


class CacheView(CamelModel):
    """How much of a job's audio the synthesis cache supplied."""

    hit: bool = Field(description="true when every chunk was reused: no provider call was made.")
    chunks_reused: int = Field(description="Chunks whose audio was reused from the cache.")
    chunks_total: int = Field(description="Chunks the audio has (one for a short text).")


class LexiconRef(CamelModel):
    """A lexicon a job reads, and the version it reads (fixed when the job was submitted)."""

    name: str
    version: str


class JobList(CamelModel):
    jobs: list[JobView]
    next_cursor: str | None = None


class LegacyResult(CamelModel):
    """The old system's contract: ``{jobId, status, base64Audio, mimeType}``.

    ``base64Audio`` and ``mimeType`` are ``null`` until the job is completed.
    """

    job_id: str
    status: JobStatus
    base64_audio: str | None = None
    mime_type: str | None = None
    error: str | None = None

    def to_json_dict(self) -> dict[str, Any]:
        # Old clients read the four keys unconditionally: keep them even when null.
        data = self.model_dump(mode="json", by_alias=True)
        if data.get("error") is None:
            data.pop("error", None)
        return data


class WebhookSecretView(CamelModel):
    """``GET /v1/webhooks/secret``: the caller's secret(s) for verifying deliveries."""

    secret: str
    previous_secret: str | None = None


class ErrorDetail(CamelModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(CamelModel):
    """Every 4xx/5xx body: ``{"error": {"code", "message", "field"?}}``."""

    error: ErrorDetail


class WordEntry(CamelModel):
    """One word of ``GET /v1/jobs/{jobId}/timestamps``."""

    word: str
    start: float = Field(ge=0, description="Seconds from the start of the audio.")
    end: float = Field(ge=0, description="Seconds from the start of the audio; at least start.")
    char_start: int = Field(ge=0, description="Offset of the word's first character in the submitted text (code points).")
    char_end: int = Field(ge=0, description="Offset one past its last character.")


class ChapterEntry(CamelModel):
    """One input of a multi-input job in its joined audio (the silence between inputs is in no chapter)."""

    index: int = Field(ge=0, description="The input's position in inputs, from 0.")
    title: str
    start: float = Field(ge=0, description="Seconds from the start of the audio to the input's first sample.")
    end: float = Field(ge=0, description="Seconds from the start of the audio to the end of the input's last sample.")
    char_start: int = Field(ge=0, description="Where the input's text starts in the job's text (code points).")
    char_end: int = Field(ge=0, description="One past its end.")
    byte_start: int | None = Field(
        default=None, description="Where the input's audio starts in the file (WAV, PCM, MP3: what ?input=N serves)."
    )
    byte_end: int | None = Field(default=None, description="One past its last byte.")


class TimingsDocument(CamelModel):
    """``GET /v1/jobs/{jobId}/timestamps``."""

    v: Literal[1] = 1
    job_id: str
    model: str
    timings: Literal["exact", "estimated"]
    method: str = Field(description="How the timings were obtained.")
    offsets: Literal["codepoints"] = "codepoints"
    duration: float | None = Field(default=None, description="Seconds of audio, when measured.")
    words: list[WordEntry]
    chapters: list[ChapterEntry] | None = Field(
        default=None, description="A job with inputs: one chapter per input, in order."
    )


class LexiconView(CamelModel):
    """A lexicon as ``GET /v1/lexicons`` lists it."""

    # The lexicon models are built on first use (defer_build), not at import: most requests never need them.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)

    name: str
    version: str = Field(description="SHA-256 of its rules (16 hex digits): the same rules, the same version.")
    format: Literal["pls", "json"] = Field(description="How it was uploaded.")
    rule_count: int
    size_bytes: int
    language: str | None = None
    created_at: datetime
    updated_at: datetime


class LexiconRule(CamelModel):
    """One grapheme's rule, as the JSON upload takes it: an alias (spoken instead), a phoneme string, or both."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    grapheme: str = Field(min_length=1, max_length=200, description="Matched case-sensitively, whole words only.")
    alias: str | None = Field(default=None, min_length=1, max_length=2000)
    phoneme: str | None = Field(default=None, min_length=1, max_length=2000)
    alphabet: Literal["ipa", "x-sampa"] | None = Field(default=None, description="Of the phoneme; ipa when absent.")


class LexiconUpload(CamelModel):
    """``PUT /v1/lexicons/{name}`` as JSON (a W3C PLS document is the other form)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)

    rules: list[LexiconRule] = Field(min_length=1, description="In order: the first matching rule wins.")
    language: str | None = Field(default=None, max_length=35, description="A language tag, such as en-US.")


class LexiconDocument(LexiconView):
    """``GET /v1/lexicons/{name}``: the lexicon and its rules."""

    rules: list[LexiconRule]


class LexiconList(CamelModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, defer_build=True)

    lexicons: list[LexiconView]


# --- Queue -------------------------------------------------------------------


class SynthesizeJob(BaseModel):
    """Queue message body (command): small and fixed, never the text."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    jobId: JobId
    shard: str = Field(pattern=r"^shard-[0-9]{1,4}$")
    # A chunk task of a fanned-out job (shared/consumer.py): its plan and the chunks it carries.
    plan: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    chunks: list[Annotated[int, Field(ge=0)]] | None = Field(default=None, min_length=1, max_length=100)

    def task_of(self, chunks: list[int]) -> SynthesizeJob:
        return self.model_copy(update={"chunks": list(chunks)})

    def body(self) -> dict[str, Any]:
        """The message body as sent: a job message carries no chunk fields."""
        return self.model_dump(exclude_none=True)


class DeliverWebhook(BaseModel):
    """Queue message body (command) on ``tts-webhooks``: announce a finished job."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    kind: Literal["webhook"] = "webhook"
    jobId: JobId
    shard: str = Field(pattern=r"^shard-[0-9]{1,4}$")
    event: WebhookEvent


class DeliverAudio(BaseModel):
    """Queue message body (command) on ``tts-webhooks``: PUT a completed job's audio to its ``deliver.url``."""

    model_config = ConfigDict(extra="ignore")

    v: Literal[1] = 1
    kind: Literal["delivery"] = "delivery"
    jobId: JobId
    shard: str = Field(pattern=r"^shard-[0-9]{1,4}$")


# --- RPC (Durable Object) ----------------------------------------------------


class JobRecord(CamelModel):
    """A job as the shard stores it and returns it over RPC."""

    job_id: str
    tenant: str
    status: JobStatus
    text: str = ""  # empty in listings and reaper queries, which skip it
    model: str
    voice_id: str | None = None
    format: str
    created_at: float
    updated_at: float
    started_at: float | None = None
    completed_at: float | None = None
    expires_at: float | None = None
    ttl_seconds: int
    attempts: int = 0  # claims
    lapses: int = 0  # claims whose delivery died without settling (crashes): never a failure
    lease_until: float | None = None
    characters: int = 0
    error: str | None = None
    audio_key: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    etag: str | None = None
    # Synthesis options and long-text progress (shared/synthesis/longform.py).
    sample_rate: int | None = None
    speed: float | None = None
    instructions: str | None = None
    progress_done: int = 0
    progress_total: int = 0
    # "word" when word timings were asked for: once completed they are in R2 at
    # shared.keys.timings_key(job_id, created_at) (derived, so no key column).
    timestamps: str | None = None
    # Pronunciation (shared/text/, docs/pronunciation.md): "ssml" when the text is SSML; the lexicons
    # applied as "name@version,..." (versions fixed at submit, so every chunk and retry reads the same rules).
    text_type: str | None = None
    lexicons: str | None = None
    # Trust (shared/security, shared/webhooks.py); columns added by migration.
    idempotency_key: str | None = None  # sha256 of tenant + Idempotency-Key
    request_hash: str | None = None  # sha256 of the canonical request body
    deadline_at: float | None = None  # cancel if not started by then
    webhook_url: str | None = None
    webhook_events: str | None = None  # comma-separated WebhookEvent values
    webhook_status: str | None = None  # None until enqueued; pending | delivered | failed
    webhook_attempts: int = 0
    webhook_last_status: int | None = None
    webhook_last_error: str | None = None
    webhook_last_attempt_at: float | None = None
    # Delivery to the customer's bucket (shared/delivery.py). deliver_url and deliver_headers (JSON)
    # are secrets: no view, list or log shows them.
    deliver_url: str | None = Field(default=None, repr=False)
    deliver_headers: str | None = Field(default=None, repr=False)
    delivery_state: str | None = None  # None without deliver_url; pending | delivering | delivered | failed
    delivery_attempts: int = 0
    delivery_last_error: str | None = None
    delivery_last_attempt_at: float | None = None
    delivery_webhook_status: str | None = None  # the 'delivery' webhook event: pending | delivered | failed
    # How many times the job changed (each write that moves updated_at): the id of its events
    # (GET /v1/jobs/{id}/events, shared/api/job_events.py).
    version: int = 0
    # A multi-input job (shared/synthesis/inputs.py): ``text`` is the inputs' texts joined by
    # INPUT_SEPARATOR; ``inputs`` is JSON [{"chars", "voiceId", "title"}] (read with the text only);
    # ``input_count`` how many; ``gap_ms`` the silence between them.
    inputs: str | None = None
    input_count: int = 0
    gap_ms: int | None = None
    # The cumulative chunk count at the end of each input ("3,5,9"), fixed at submit, so progress can
    # count inputs (shared/jobs/chunks.py); ``progress_inputs``: inputs whose every chunk is stored.
    input_chunks: str | None = None
    progress_inputs: int = 0
    # Synthesis cache (shared/synthesis/cache.py): the scope fixed at submit (None: the cache is skipped),
    # and at completion how many of its chunks were reused, of how many, and the provider characters saved.
    cache_scope: str | None = None
    cache_reused: int = 0
    cache_total: int = 0
    cache_saved_chars: int = 0

    def to_rpc(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def webhook_events(record: JobRecord) -> list[WebhookEvent]:
    """The events the job's webhook announces: those asked for, else all (``delivery`` only for a job
    with a ``deliver.url``)."""
    if not record.webhook_events:
        return [e for e in WebhookEvent if e is not WebhookEvent.DELIVERY or record.deliver_url]
    return [WebhookEvent(e) for e in record.webhook_events.split(",") if e]


@overload
def iso(ts: float) -> datetime: ...
@overload
def iso(ts: float | None) -> datetime | None: ...
def iso(ts: float | None) -> datetime | None:
    """A Unix time as an aware UTC datetime (None stays None)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc)
