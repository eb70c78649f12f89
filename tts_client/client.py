"""The synchronous client: ``Client(api, token).submit(...)``, ``wait()``, ``download()``.

Each call is built by ``tts_client.calls`` and sent on the blocking ``Transport``; ``AsyncClient``
sends the same calls awaited.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from tts_client import calls
from tts_client.backoff import Backoff
from tts_client.calls import (
    DEFAULT_API_URL,
    DEFAULT_WAIT_TIMEOUT,
    LONG_POLL_SECONDS,
    Call,
    EventParser,
    ServerFeatures,
    Sleep,
    Step,
    Update,
    audio_url,
    caption_format,
    captions_url,
)
from tts_client.errors import ApiError, ClientError, TransportError, WaitTimeoutError
from tts_client.models import (
    ChapterEntry,
    Download,
    JobList,
    JobView,
    LexiconDocument,
    LexiconView,
    ModelInfo,
    TimingsDocument,
)
from tts_client.transport import Transport

__all__ = ["DEFAULT_API_URL", "DEFAULT_WAIT_TIMEOUT", "Client", "atomic_file", "audio_url", "caption_format"]

T = TypeVar("T")


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
        transport: Transport | None = None,
    ) -> None:
        """``transport``: a ``Transport`` of your own (tests pass one on an ``httpx.MockTransport``)."""
        self.transport = transport or Transport(api_url, token, timeout)
        self._clock = clock
        self._sleep = sleep
        self._features = ServerFeatures()

    @property
    def api_url(self) -> str:
        return self.transport.base_url

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.transport.close()

    def _run(self, call: Call[T]) -> T:
        reply = self.transport.request(
            call.method, call.path, json_body=call.json_body, query=call.query, headers=call.headers, body=call.body
        )
        return call.parse(reply)

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
        return self._run(calls.submit(
            text, model=model, voice=voice, format=format, ttl_seconds=ttl_seconds,
            idempotency_key=idempotency_key, **options,
        ))

    def get(self, job_id: str) -> JobView:
        return self._run(calls.get(job_id))

    def list_jobs(self, *, limit: int | None = None, cursor: str | None = None) -> JobList:
        """One page of the caller's jobs, newest first."""
        return self._run(calls.list_jobs(limit=limit, cursor=cursor))

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
        self._run(calls.delete(job_id))

    def models(self) -> list[ModelInfo]:
        return self._run(calls.models())

    # --- pronunciation lexicons (docs/pronunciation.md) ---------------------------

    def put_lexicon(
        self, name: str, document: str | bytes | dict[str, Any] | os.PathLike[str], *, content_type: str | None = None
    ) -> LexiconView:
        """Upload (or replace) lexicon ``name``: a W3C PLS document (text or bytes), JSON rules
        (``{"rules": [...]}``), or a file (``.pls``/``.xml``: PLS, ``.json``: JSON)."""
        return self._run(calls.put_lexicon(name, document, content_type=content_type))

    def lexicons(self) -> list[LexiconView]:
        """The caller's lexicons, by name."""
        return self._run(calls.lexicons())

    def get_lexicon(self, name: str) -> LexiconDocument:
        """A lexicon and its rules."""
        return self._run(calls.get_lexicon(name))

    def get_lexicon_pls(self, name: str) -> str:
        """A lexicon uploaded as PLS, as it was uploaded (JSON ones come back as JSON: ``get_lexicon``)."""
        return self._run(calls.get_lexicon_pls(name))

    def delete_lexicon(self, name: str) -> None:
        """Delete a lexicon (jobs already submitted with it still read their version)."""
        self._run(calls.delete_lexicon(name))

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
        with atomic_file(sink) as out:
            return self.transport.download(url, out)

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
        with atomic_file(path) as out:
            out.write(text.encode("utf-8"))
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
        deadline = self._clock() + timeout
        if events and self._features.events:
            followed = self._follow(job_id, timeout, deadline, on_update)
            if followed is not None:
                return followed
        plan = calls.wait_plan(
            job_id, timeout=timeout, backoff=backoff, long_poll=long_poll, transport_timeout=self.transport.timeout,
            clock=self._clock, features=self._features, deadline=deadline,
        )
        return self._drive(plan, on_update, sleep or self._sleep)

    def _drive(
        self, plan: Generator[Step, Any, JobView], on_update: Callable[[JobView], object] | None,
        sleep: Callable[[float], None],
    ) -> JobView:
        """Carry out a wait plan's steps until it returns its job (or raises)."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Sleep):
                    sleep(step.seconds)
                    step = plan.send(None)
                elif isinstance(step, Update):
                    if on_update is not None:
                        on_update(step.view)
                    step = plan.send(None)
                else:
                    try:
                        view = self._run(step)
                    except ClientError as exc:
                        step = plan.throw(exc)
                    else:
                        step = plan.send(view)
        except StopIteration as done:
            result: JobView = done.value
            return result

    def events(self, job_id: str, *, last_event_id: int | None = None) -> Iterator[tuple[int, JobView]]:
        """``GET /v1/jobs/{id}/events``: (the job's change counter, the job) at once and on every change,
        until a final state (or the server's idle bound); ``last_event_id`` resumes after that change."""
        path, headers = calls.events_request(job_id, last_event_id)
        parser = EventParser()
        for raw in self.transport.lines(path, headers):
            yield from parser.feed(raw)

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
            except (ApiError, TransportError) as exc:
                if not calls.stream_error(exc, last_id, self._features):
                    return None
        raise WaitTimeoutError(job_id, timeout, last)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new content into: a temporary file beside it, renamed over it when
    the block ends, removed if it fails, so a failed write never leaves a truncated file behind."""
    target = Path(path)
    # open(..., "xb") rather than mkstemp: the file gets the usual umask permissions, not mkstemp's 0600.
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        with open(tmp, "xb") as out:
            yield out
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
