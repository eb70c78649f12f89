"""The synchronous client: ``Client(api, token).submit(...)``, ``wait()``, ``download()``."""

from __future__ import annotations

import io
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from tts_client.backoff import Backoff
from tts_client.errors import ApiError, ClientError, TransportError, WaitTimeoutError
from tts_client.models import (
    ChapterEntry,
    CreateJobRequest,
    Download,
    JobList,
    JobView,
    LexiconDocument,
    LexiconList,
    LexiconView,
    ModelInfo,
    TimingsDocument,
)
from tts_client.transport import Transport

DEFAULT_API_URL = "http://127.0.0.1:8787"
DEFAULT_WAIT_TIMEOUT = 600.0


def job_path(job_id: str) -> str:
    if not job_id or "/" in job_id or "?" in job_id or "#" in job_id:
        raise ValueError(f"not a job id: {job_id!r}")
    return f"/v1/jobs/{job_id}"


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
    ``cancel_after_seconds``; ``inputs`` instead of ``text``: ``JobInput``s or dicts with ``text`` and
    optionally ``voice_id``/``voiceId`` and ``title``; ``gap_ms``). ``None`` leaves a field out."""
    fields = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(fields) - set(CreateJobRequest.model_fields))
    if unknown:
        raise TypeError(f"unknown job fields: {', '.join(unknown)}")
    request = CreateJobRequest(text=text, model=model, voice_id=voice, format=format, ttl_seconds=ttl_seconds, **fields)
    return request.to_json_dict()


def lexicon_path(name: str) -> str:
    if not name or "/" in name or "?" in name or "#" in name:
        raise ValueError(f"not a lexicon name: {name!r}")
    return f"/v1/lexicons/{name}"


LONG_POLL_SECONDS = 25.0
"""How long one ``GET /v1/jobs/{id}?wait=N`` asks the server to hold the answer (the server caps it too)."""


def is_retryable(exc: ClientError) -> bool:
    """While polling: a dropped connection or a transient status is retried, anything else is final."""
    return isinstance(exc, TransportError) or (isinstance(exc, ApiError) and exc.transient)


class Client:
    """Talks to the api Worker (or ``tts-pipeline dev``). Safe to share between threads."""

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.transport = Transport(api_url, token, timeout)
        self._clock = clock
        self._sleep = sleep
        self._long_poll = True  # until a server says it has no ?wait
        self._events = True  # until a server says it has no /events

    @property
    def api_url(self) -> str:
        return self.transport.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.transport.close()

    # --- jobs -----------------------------------------------------------------

    def submit(
        self,
        text: str | None = None,
        *,
        model: str | None = None,
        voice: str | None = None,
        format: str | None = None,
        ttl_seconds: int | None = None,
        idempotency_key: str | None = None,
        **options: Any,
    ) -> JobView:
        """Queue a job (``POST /v1/jobs``); ``options``: ``sample_rate``, ``speed``, ``instructions``,
        ``webhook_url``, ``webhook_events``, ``cancel_after_seconds``, ``timestamps`` (``"word"``),
        ``text_type`` (``"ssml"``), ``lexicons`` (names, in order), ``deliver``
        (``{"url": <presigned PUT URL>, "headers": {...}}``: the server PUTs the finished audio there;
        ``JobView.delivery`` says how it went); ``inputs`` instead of ``text`` (several texts, each with
        its own voice and title if wanted, joined into one file with chapters) and ``gap_ms`` (silence
        between them)."""
        body = create_body(text, model=model, voice=voice, format=format, ttl_seconds=ttl_seconds, **options)
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        reply = self.transport.request("POST", "/v1/jobs", json_body=body, headers=headers)
        return JobView.model_validate(reply.json())

    def get(self, job_id: str) -> JobView:
        return JobView.model_validate(self.transport.request("GET", job_path(job_id)).json())

    def list_jobs(self, *, limit: int | None = None, cursor: str | None = None) -> JobList:
        """One page of the caller's jobs, newest first."""
        reply = self.transport.request("GET", "/v1/jobs", query={"limit": limit, "cursor": cursor})
        return JobList.model_validate(reply.json())

    def iter_jobs(self, *, page_size: int = 100) -> Iterator[JobView]:
        """Every job of the caller, newest first, following ``nextCursor``."""
        cursor: str | None = None
        while True:
            page = self.list_jobs(limit=page_size, cursor=cursor)
            yield from page.jobs
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def delete(self, job_id: str) -> None:
        """Cancel the job if it is still running and delete its audio and metadata."""
        self.transport.request("DELETE", job_path(job_id))

    def models(self) -> list[ModelInfo]:
        data = self.transport.request("GET", "/v1/models").json()
        return [ModelInfo.model_validate(m) for m in data.get("models", [])]

    # --- pronunciation lexicons (docs/pronunciation.md) ---------------------------

    def put_lexicon(
        self, name: str, document: str | bytes | dict[str, Any] | os.PathLike[str], *, content_type: str | None = None
    ) -> LexiconView:
        """Upload (or replace) lexicon ``name``: a W3C PLS document (text or bytes), JSON rules
        (``{"rules": [...]}``), or a file (``.pls``/``.xml``: PLS, ``.json``: JSON)."""
        if isinstance(document, dict):
            body, kind = json.dumps(document).encode("utf-8"), "application/json"
        elif isinstance(document, os.PathLike):
            path = Path(document)
            body = path.read_bytes()
            kind = "application/json" if path.suffix.lower() == ".json" else "application/pls+xml"
        else:
            body = document.encode("utf-8") if isinstance(document, str) else bytes(document)
            kind = "application/json" if body.lstrip()[:1] == b"{" else "application/pls+xml"
        reply = self.transport.request(
            "PUT", lexicon_path(name), body=body, headers={"Content-Type": content_type or kind}
        )
        return LexiconView.model_validate(reply.json())

    def lexicons(self) -> list[LexiconView]:
        """The caller's lexicons, by name."""
        return LexiconList.model_validate(self.transport.request("GET", "/v1/lexicons").json()).lexicons

    def get_lexicon(self, name: str) -> LexiconDocument:
        """A lexicon and its rules."""
        return LexiconDocument.model_validate(self.transport.request("GET", lexicon_path(name)).json())

    def get_lexicon_pls(self, name: str) -> str:
        """A lexicon uploaded as PLS, as it was uploaded (JSON ones come back as JSON: ``get_lexicon``)."""
        reply = self.transport.request("GET", lexicon_path(name), headers={"Accept": "application/pls+xml"})
        return reply.body.decode("utf-8")

    def delete_lexicon(self, name: str) -> None:
        """Delete a lexicon (jobs already submitted with it still read their version)."""
        self.transport.request("DELETE", lexicon_path(name))

    # --- audio ----------------------------------------------------------------

    def download(
        self, job: str | JobView, sink: BinaryIO | str | os.PathLike[str], *, input: int | None = None  # noqa: A002
    ) -> Download:
        """Stream a completed job's audio into a file object, or a file at a path; ``input``: only that input
        of a job submitted with inputs (from 0), as a file of its own.

        A path is written through a temporary file beside it and renamed, so
        a failed download never leaves a truncated file behind.
        """
        url = audio_url(job, input=input)
        if not isinstance(sink, (str, os.PathLike)):
            return self.transport.download(url, sink)
        target = Path(sink)
        # open(..., "xb") rather than mkstemp: the file gets the usual umask
        # permissions, not mkstemp's 0600.
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            with open(tmp, "xb") as out:
                info = self.transport.download(url, out)
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return info

    def audio_bytes(self, job: str | JobView, *, input: int | None = None) -> bytes:  # noqa: A002
        buffer = io.BytesIO()
        self.download(job, buffer, input=input)
        return buffer.getvalue()

    # --- word timings and captions (jobs submitted with timestamps="word") -------

    def captions(self, job: str | JobView, format: str = "vtt") -> str:  # noqa: A002 - the API's word
        """A completed job's captions as text: ``vtt`` (WebVTT), ``srt`` (SRT) or ``json`` (the timings)."""
        buffer = io.BytesIO()
        self.transport.download(captions_url(job, format), buffer)
        return buffer.getvalue().decode("utf-8")

    def timestamps(self, job: str | JobView) -> TimingsDocument:
        """A completed job's word timings: one entry per word, start/end seconds, offsets into the text."""
        return TimingsDocument.model_validate_json(self.captions(job, "json"))

    def chapters(self, job: str | JobView) -> list[ChapterEntry]:
        """A completed job's chapters, one per input (``[]`` for a job submitted with ``text``)."""
        return self.timestamps(job).chapters or []

    def save_captions(self, job: str | JobView, path: str | os.PathLike[str]) -> str:
        """Write the captions to ``path`` in the format its extension names (.vtt, .srt, .json); returns it."""
        fmt = caption_format(path)
        text = self.captions(job, fmt)
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return fmt

    # --- waiting --------------------------------------------------------------

    def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        backoff: Backoff | None = None,
        on_update: Callable[[JobView], object] | None = None,
        sleep: Callable[[float], None] | None = None,
        long_poll: float = LONG_POLL_SECONDS,
        events: bool = False,
    ) -> JobView:
        """Wait until the job is completed, failed or canceled.

        With ``events``, on the job's event stream (``GET /v1/jobs/{id}/events``:
        one connection, an event per change) where the server has it.

        Each request is a long-poll (``GET /v1/jobs/{id}?wait=N``, ``N`` at
        most ``long_poll`` seconds): the server answers when the job's status
        or progress changes, so there is no polling in a loop. A server
        without ``?wait`` (400 ``unknown_query_parameter``) is polled with
        ``backoff`` instead, as is a reply that comes back unchanged at once.

        Returns the finished job whatever its outcome (check ``status``).
        Dropped connections and transient answers (429, 5xx) are retried until
        ``timeout``; any other API error is raised. Raises ``WaitTimeoutError``
        when ``timeout`` seconds pass first. ``on_update`` sees every view;
        ``sleep`` replaces ``time.sleep`` between polls (a progress bar animates in it).
        """
        sleep = sleep or self._sleep
        deadline = self._clock() + timeout
        if events and self._events:
            followed = self._follow(job_id, timeout, deadline, on_update)
            if followed is not None:
                return followed
        delays = (backoff or Backoff()).delays()
        last: JobView | None = None
        while True:
            pause: float | None = None
            previous = last
            remaining = deadline - self._clock()
            asked = time_left_to_ask(remaining, long_poll, self.transport.timeout)
            try:
                last = self._get_waiting(job_id, asked)
            except ClientError as exc:
                if not is_retryable(exc):
                    raise
                pause = exc.retry_after if isinstance(exc, ApiError) else None
            else:
                if on_update is not None:
                    on_update(last)
                if last.status.is_terminal:
                    return last
                if asked and self._long_poll and not same_view(previous, last):
                    continue  # the server waited for this change: ask again at once
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise WaitTimeoutError(job_id, timeout, last)
            delay = next(delays)
            sleep(min(max(delay, pause or 0.0), remaining))

    def events(self, job_id: str, *, last_event_id: int | None = None) -> Iterator[tuple[int, JobView]]:
        """``GET /v1/jobs/{id}/events``: (the job's change counter, the job) at once and on every change,
        until a final state (or the server's idle bound); ``last_event_id`` resumes after that change."""
        headers = {"Last-Event-ID": str(last_event_id)} if last_event_id is not None else {}
        fields: dict[str, str] = {}
        for raw in self.transport.lines(job_path(job_id) + "/events", headers):
            line = raw.decode("utf-8").rstrip("\r\n")
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value[1:] if value.startswith(" ") else value
                continue
            if fields.get("event") == "job" and "data" in fields:
                yield int(fields.get("id") or 0), JobView.model_validate_json(fields["data"])
            fields = {}

    def _follow(
        self, job_id: str, timeout: float, deadline: float, on_update: Callable[[JobView], object] | None
    ) -> JobView | None:
        """Wait on the job's event stream, reconnecting after the last change seen; None when the server has none."""
        last_id: int | None = None
        last: JobView | None = None
        while self._clock() < deadline:
            try:
                for event_id, view in self.events(job_id, last_event_id=last_id):
                    last_id, last = event_id, view
                    if on_update is not None:
                        on_update(view)
                    if view.status.is_terminal:
                        return view
                    if self._clock() >= deadline:
                        break
            except ApiError as exc:
                if exc.status in (404, 405) and last_id is None and "no route" in exc.message:
                    self._events = False  # an older server: long-poll it
                    return None
                if not is_retryable(exc):
                    raise
            except TransportError:
                pass  # a dropped stream: reconnect after the last change seen
        raise WaitTimeoutError(job_id, timeout, last)

    def _get_waiting(self, job_id: str, seconds: int) -> JobView:
        if seconds and self._long_poll:
            try:
                reply = self.transport.request("GET", job_path(job_id), query={"wait": seconds})
                return JobView.model_validate(reply.json())
            except ApiError as exc:
                if exc.status != 400 or exc.code != "unknown_query_parameter":
                    raise
                self._long_poll = False  # an older server: poll it
        return self.get(job_id)


def time_left_to_ask(remaining: float, long_poll: float, transport_timeout: float) -> int:
    """Whole seconds to ask the server to wait: within the deadline and the socket timeout."""
    return max(0, int(min(remaining, long_poll, transport_timeout - 5)))


def same_view(a: JobView | None, b: JobView) -> bool:
    return a is not None and a.status == b.status and a.progress == b.progress and a.updated_at == b.updated_at


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

