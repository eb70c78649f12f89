"""The client's calls without I/O: each API call as a ``Call`` (the request to send and how to read
its reply), ``wait()`` as a plan of steps, and the event-stream parser.

Rule: ``Client`` and ``AsyncClient`` only send what is built here (blocking or awaited) and hand the
reply back, so a call, its path, its body and its reading of the answer are written once for both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from tts_client.backoff import Backoff
from tts_client.errors import ApiError, ClientError, TransportError, WaitTimeoutError
from tts_client.models import (
    CreateJobRequest,
    JobList,
    JobView,
    LexiconDocument,
    LexiconList,
    LexiconView,
    ModelInfo,
)
from tts_client.transport import Query, Reply

T = TypeVar("T")

DEFAULT_API_URL = "http://127.0.0.1:8787"
DEFAULT_WAIT_TIMEOUT = 600.0
LONG_POLL_SECONDS = 25.0
"""How long one ``GET /v1/jobs/{id}?wait=N`` asks the server to hold the answer (the server caps it too)."""


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and what its (2xx) reply means."""

    method: str
    path: str
    parse: Callable[[Reply], T]
    query: Query | None = None
    headers: Mapping[str, str] | None = None
    json_body: Any = None
    body: bytes | None = None


@dataclass
class ServerFeatures:
    """What the server turned out to lack; shared by every call of one client."""

    long_poll: bool = True  # until a server says it has no ?wait
    events: bool = True  # until a server says it has no /events


# --- paths and bodies ---------------------------------------------------------------


def job_path(job_id: str) -> str:
    if not job_id or "/" in job_id or "?" in job_id or "#" in job_id:
        raise ValueError(f"not a job id: {job_id!r}")
    return f"/v1/jobs/{job_id}"


def lexicon_path(name: str) -> str:
    if not name or "/" in name or "?" in name or "#" in name:
        raise ValueError(f"not a lexicon name: {name!r}")
    return f"/v1/lexicons/{name}"


def create_body(
    text: str | None = None,
    *,
    model: str | None = None,
    voice: str | None = None,
    format: str | None = None,
    ttl_seconds: int | None = None,
    **options: Any,
) -> dict[str, object]:
    """The JSON body of ``POST /v1/jobs``; ``options`` are the other request fields in snake_case
    (``sample_rate``, ``speed``, ``instructions``, ``webhook_url``, ``webhook_events``,
    ``cancel_after_seconds``, ``cache=False`` to skip the synthesis cache; ``inputs`` instead of ``text``: ``JobInput``s or dicts with ``text`` and
    optionally ``voice_id``/``voiceId`` and ``title``; ``gap_ms``). ``None`` leaves a field out."""
    fields = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(fields) - set(CreateJobRequest.model_fields))
    if unknown:
        raise TypeError(f"unknown job fields: {', '.join(unknown)}")
    request = CreateJobRequest(text=text, model=model, voice_id=voice, format=format, ttl_seconds=ttl_seconds, **fields)
    return request.to_json_dict()


CAPTION_PATHS = {"vtt": "captions.vtt", "srt": "captions.srt", "json": "timestamps"}


def caption_format(path: str | os.PathLike[str]) -> str:
    """``vtt``, ``srt`` or ``json`` from a file name's extension; ValueError for any other."""
    ext = Path(path).suffix.lower().lstrip(".")
    if ext not in CAPTION_PATHS:
        raise ValueError(f"captions file must end in .vtt, .srt or .json, not {Path(path).name!r}")
    return ext


def captions_url(job: str | JobView, format: str = "vtt") -> str:  # noqa: A002
    """Where a job's captions are: signed like its ``audioUrl`` when the server signs links, else the API path."""
    if format not in CAPTION_PATHS:
        raise ValueError(f"captions format must be one of {', '.join(CAPTION_PATHS)}, not {format!r}")
    job_id = job.job_id if isinstance(job, JobView) else job
    path = f"{job_path(job_id)}/{CAPTION_PATHS[format]}"
    if isinstance(job, JobView) and job.audio_url and "?" in job.audio_url:
        base = job.audio_url.split("?", 1)[0].removesuffix("/audio")
        return f"{base}/{CAPTION_PATHS[format]}?{job.audio_url.split('?', 1)[1]}"
    return path


def audio_url(job: str | JobView, *, input: int | None = None) -> str:  # noqa: A002
    """Where a job's audio is: a signed ``audioUrl`` when the server gives one, else the API path;
    ``input``: one input of a job submitted with inputs."""
    if input is not None and (isinstance(input, bool) or not isinstance(input, int) or input < 0):
        raise ValueError(f"input must be the index of one of the job's inputs (0 or more), not {input!r}")
    query = f"input={input}" if input is not None else ""
    if isinstance(job, JobView):
        if job.audio_url and "?" in job.audio_url:
            return f"{job.audio_url}&{query}" if query else job.audio_url  # signed: its own authorization
        return f"{job_path(job.job_id)}/audio" + (f"?{query}" if query else "")
    return f"{job_path(job)}/audio" + (f"?{query}" if query else "")


# --- the calls ------------------------------------------------------------------------


def _job(reply: Reply) -> JobView:
    return JobView.model_validate(reply.json())


def _nothing(reply: Reply) -> None:
    return None


def submit(
    text: str | None = None,
    *,
    model: str | None = None,
    voice: str | None = None,
    format: str | None = None,
    ttl_seconds: int | None = None,
    idempotency_key: str | None = None,
    **options: Any,
) -> Call[JobView]:
    body = create_body(text, model=model, voice=voice, format=format, ttl_seconds=ttl_seconds, **options)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    return Call("POST", "/v1/jobs", _job, json_body=body, headers=headers)


def get(job_id: str, *, wait: int | None = None) -> Call[JobView]:
    return Call("GET", job_path(job_id), _job, query={"wait": wait} if wait else None)


def list_jobs(*, limit: int | None = None, cursor: str | None = None) -> Call[JobList]:
    return Call("GET", "/v1/jobs", lambda r: JobList.model_validate(r.json()), query={"limit": limit, "cursor": cursor})


def delete(job_id: str) -> Call[None]:
    return Call("DELETE", job_path(job_id), _nothing)


def models() -> Call[list[ModelInfo]]:
    return Call("GET", "/v1/models", lambda r: [ModelInfo.model_validate(m) for m in r.json().get("models", [])])


def put_lexicon(
    name: str, document: str | bytes | dict[str, Any] | os.PathLike[str], *, content_type: str | None = None
) -> Call[LexiconView]:
    if isinstance(document, dict):
        body, kind = json.dumps(document).encode("utf-8"), "application/json"
    elif isinstance(document, os.PathLike):
        path = Path(document)
        body = path.read_bytes()
        kind = "application/json" if path.suffix.lower() == ".json" else "application/pls+xml"
    else:
        body = document.encode("utf-8") if isinstance(document, str) else bytes(document)
        kind = "application/json" if body.lstrip()[:1] == b"{" else "application/pls+xml"
    return Call(
        "PUT", lexicon_path(name), lambda r: LexiconView.model_validate(r.json()),
        headers={"Content-Type": content_type or kind}, body=body,
    )


def lexicons() -> Call[list[LexiconView]]:
    return Call("GET", "/v1/lexicons", lambda r: LexiconList.model_validate(r.json()).lexicons)


def get_lexicon(name: str) -> Call[LexiconDocument]:
    return Call("GET", lexicon_path(name), lambda r: LexiconDocument.model_validate(r.json()))


def get_lexicon_pls(name: str) -> Call[str]:
    return Call("GET", lexicon_path(name), lambda r: r.body.decode("utf-8"), headers={"Accept": "application/pls+xml"})


def delete_lexicon(name: str) -> Call[None]:
    return Call("DELETE", lexicon_path(name), _nothing)


def events_request(job_id: str, last_event_id: int | None) -> tuple[str, dict[str, str]]:
    """The path and headers of ``GET /v1/jobs/{id}/events``, resuming after ``last_event_id``."""
    headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
    return job_path(job_id) + "/events", headers


# --- waiting --------------------------------------------------------------------------


def is_retryable(exc: ClientError) -> bool:
    """While polling: a dropped connection or a transient status is retried, anything else is final."""
    return isinstance(exc, TransportError) or (isinstance(exc, ApiError) and exc.transient)


def time_left_to_ask(remaining: float, long_poll: float, transport_timeout: float) -> int:
    """Whole seconds to ask the server to wait: within the deadline and the socket timeout."""
    return max(0, int(min(remaining, long_poll, transport_timeout - 5)))


def same_view(a: JobView | None, b: JobView) -> bool:
    return a is not None and a.status == b.status and a.progress == b.progress and a.updated_at == b.updated_at


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Update:
    view: JobView


Step = Call[JobView] | Sleep | Update
"""What a wait plan asks its driver to do: send a call (and send back its view, or throw its
``ClientError`` in), sleep, or show a view to ``on_update`` (send back None)."""


def wait_plan(
    job_id: str,
    *,
    timeout: float,
    backoff: Backoff | None,
    long_poll: float,
    transport_timeout: float,
    clock: Callable[[], float],
    features: ServerFeatures,
    deadline: float | None = None,
) -> Generator[Step, Any, JobView]:
    """``wait()`` on long-polls (or polls, with ``backoff``, a server without ``?wait``): returns the
    finished job; retries dropped connections and transient answers; raises ``WaitTimeoutError`` at
    ``deadline`` (on ``clock``; ``timeout`` seconds from now if not given)."""
    deadline = clock() + timeout if deadline is None else deadline
    delays = (backoff or Backoff()).delays()
    last: JobView | None = None
    while True:
        pause: float | None = None
        previous = last
        asked = time_left_to_ask(deadline - clock(), long_poll, transport_timeout)
        try:
            last = yield from _get_waiting(job_id, asked, features)
        except ClientError as exc:
            if not is_retryable(exc):
                raise
            pause = exc.retry_after if isinstance(exc, ApiError) else None
        else:
            yield Update(last)
            if last.status.is_terminal:
                return last
            if asked and features.long_poll and not same_view(previous, last):
                continue  # the server waited for this change: ask again at once
        remaining = deadline - clock()
        if remaining <= 0:
            raise WaitTimeoutError(job_id, timeout, last)
        yield Sleep(min(max(next(delays), pause or 0.0), remaining))


def _get_waiting(job_id: str, seconds: int, features: ServerFeatures) -> Generator[Step, Any, JobView]:
    if seconds and features.long_poll:
        try:
            view: JobView = yield get(job_id, wait=seconds)
            return view
        except ApiError as exc:
            if exc.status != 400 or exc.code != "unknown_query_parameter":
                raise
            features.long_poll = False  # an older server: poll it
    view = yield get(job_id)
    return view


def stream_error(exc: ClientError, last_event_id: int | None, features: ServerFeatures) -> bool:
    """While following events: False when the server has no event stream (long-poll it instead), True
    to reconnect (a dropped stream, a transient answer); raises any other error."""
    if isinstance(exc, TransportError):
        return True
    if isinstance(exc, ApiError) and exc.status in (404, 405) and last_event_id is None and "no route" in exc.message:
        features.events = False  # an older server: long-poll it
        return False
    if not is_retryable(exc):
        raise exc
    return True


@dataclass
class EventParser:
    """Server-sent events, line by line (without line ends): each complete ``job`` event as
    (the job's change counter, the job)."""

    fields: dict[str, str] = field(default_factory=dict)

    def feed(self, raw: bytes) -> Iterator[tuple[int, JobView]]:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line:
            if not line.startswith(":"):
                name, _, value = line.partition(":")
                self.fields[name] = value[1:] if value.startswith(" ") else value
            return
        fields, self.fields = self.fields, {}
        if fields.get("event") == "job" and "data" in fields:
            yield int(fields.get("id") or 0), JobView.model_validate_json(fields["data"])
