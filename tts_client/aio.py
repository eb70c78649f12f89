"""The asyncio client: the same calls as ``Client``, awaitable, on ``httpx.AsyncClient``.

Each call is built by ``tts_client.calls`` (as ``Client``'s are) and sent on ``AsyncTransport``: one
keep-alive pool, closed with the client, the event loop never blocked. ``wait()`` carries out the
same plan as ``Client.wait``, sleeping with ``asyncio.sleep`` only when it must poll; ``on_update``
may be a plain function or a coroutine function.
"""

from __future__ import annotations

import asyncio
import inspect
import io
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
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
from tts_client.client import atomic_file
from tts_client.errors import ApiError, ClientError, TransportError, WaitTimeoutError
from tts_client.models import (
    ChapterEntry, Download, JobList, JobView, LexiconDocument, LexiconView, ModelInfo, TimingsDocument,
)
from tts_client.transport import AsyncTransport

T = TypeVar("T")


class AsyncClient:
    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: AsyncTransport | None = None,
    ) -> None:
        """``transport``: an ``AsyncTransport`` of your own (tests pass one on an ``httpx.MockTransport``)."""
        self.transport = transport or AsyncTransport(api_url, token, timeout)
        self._clock = clock
        self._sleep = sleep
        self._features = ServerFeatures()

    @property
    def api_url(self) -> str:
        return self.transport.base_url

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.transport.close()

    async def _run(self, call: Call[T]) -> T:
        reply = await self.transport.request(
            call.method, call.path, json_body=call.json_body, query=call.query, headers=call.headers, body=call.body
        )
        return call.parse(reply)

    # --- jobs -----------------------------------------------------------------

    async def submit(
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
        """As ``Client.submit``."""
        return await self._run(calls.submit(
            text, model=model, voice=voice, format=format, ttl_seconds=ttl_seconds,
            idempotency_key=idempotency_key, **options,
        ))

    async def get(self, job_id: str) -> JobView:
        return await self._run(calls.get(job_id))

    async def list_jobs(self, *, limit: int | None = None, cursor: str | None = None) -> JobList:
        return await self._run(calls.list_jobs(limit=limit, cursor=cursor))

    async def iter_jobs(self, *, page_size: int = 100) -> AsyncIterator[JobView]:
        cursor: str | None = None
        while True:
            page = await self.list_jobs(limit=page_size, cursor=cursor)
            for job in page.jobs:
                yield job
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def delete(self, job_id: str) -> None:
        await self._run(calls.delete(job_id))

    async def models(self) -> list[ModelInfo]:
        return await self._run(calls.models())

    # --- pronunciation lexicons ---------------------------------------------------

    async def put_lexicon(
        self, name: str, document: str | bytes | dict[str, Any] | os.PathLike[str], *, content_type: str | None = None
    ) -> LexiconView:
        return await self._run(calls.put_lexicon(name, document, content_type=content_type))

    async def lexicons(self) -> list[LexiconView]:
        return await self._run(calls.lexicons())

    async def get_lexicon(self, name: str) -> LexiconDocument:
        return await self._run(calls.get_lexicon(name))

    async def get_lexicon_pls(self, name: str) -> str:
        return await self._run(calls.get_lexicon_pls(name))

    async def delete_lexicon(self, name: str) -> None:
        await self._run(calls.delete_lexicon(name))

    # --- audio, captions ----------------------------------------------------------

    async def download(
        self, job: str | JobView, sink: BinaryIO | str | os.PathLike[str], *, input: int | None = None  # noqa: A002
    ) -> Download:
        """As ``Client.download`` (a path is written through a temporary file and renamed)."""
        url = audio_url(job, input=input)
        if not isinstance(sink, (str, os.PathLike)):
            return await self.transport.download(url, sink)
        with atomic_file(sink) as out:
            return await self.transport.download(url, out)

    async def audio_bytes(self, job: str | JobView, *, input: int | None = None) -> bytes:  # noqa: A002
        buffer = io.BytesIO()
        await self.download(job, buffer, input=input)
        return buffer.getvalue()

    async def captions(self, job: str | JobView, format: str = "vtt") -> str:  # noqa: A002
        buffer = io.BytesIO()
        await self.transport.download(captions_url(job, format), buffer)
        return buffer.getvalue().decode("utf-8")

    async def timestamps(self, job: str | JobView) -> TimingsDocument:
        return TimingsDocument.model_validate_json(await self.captions(job, "json"))

    async def chapters(self, job: str | JobView) -> list[ChapterEntry]:
        return (await self.timestamps(job)).chapters or []

    async def save_captions(self, job: str | JobView, path: str | os.PathLike[str]) -> str:
        fmt = caption_format(path)
        text = await self.captions(job, fmt)
        with atomic_file(path) as out:
            out.write(text.encode("utf-8"))
        return fmt

    # --- waiting ------------------------------------------------------------------

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        backoff: Backoff | None = None,
        on_update: Callable[[JobView], object] | None = None,
        long_poll: float = LONG_POLL_SECONDS,
        events: bool = False,
    ) -> JobView:
        """As ``Client.wait``; ``on_update`` may be a plain function or a coroutine function."""
        deadline = self._clock() + timeout
        if events and self._features.events:
            followed = await self._follow(job_id, timeout, deadline, on_update)
            if followed is not None:
                return followed
        plan = calls.wait_plan(
            job_id, timeout=timeout, backoff=backoff, long_poll=long_poll, transport_timeout=self.transport.timeout,
            clock=self._clock, features=self._features, deadline=deadline,
        )
        return await self._drive(plan, on_update)

    async def _drive(
        self, plan: Generator[Step, Any, JobView], on_update: Callable[[JobView], object] | None
    ) -> JobView:
        """Carry out a wait plan's steps until it returns its job (or raises)."""
        try:
            step = next(plan)
            while True:
                if isinstance(step, Sleep):
                    await self._sleep(step.seconds)
                    step = plan.send(None)
                elif isinstance(step, Update):
                    await _notify(on_update, step.view)
                    step = plan.send(None)
                else:
                    try:
                        view = await self._run(step)
                    except ClientError as exc:
                        step = plan.throw(exc)
                    else:
                        step = plan.send(view)
        except StopIteration as done:
            result: JobView = done.value
            return result

    async def events(self, job_id: str, *, last_event_id: int | None = None) -> AsyncIterator[tuple[int, JobView]]:
        """As ``Client.events``."""
        path, headers = calls.events_request(job_id, last_event_id)
        parser = EventParser()
        async for raw in self.transport.lines(path, headers):
            for event in parser.feed(raw):
                yield event

    async def _follow(
        self, job_id: str, timeout: float, deadline: float, on_update: Callable[[JobView], object] | None
    ) -> JobView | None:
        """As ``Client._follow``."""
        last_id: int | None = None
        last: JobView | None = None
        while self._clock() < deadline:
            try:
                async for event_id, view in self.events(job_id, last_event_id=last_id):
                    last_id, last = event_id, view
                    await _notify(on_update, view)
                    if view.status.is_terminal:
                        return view
                    if self._clock() >= deadline:
                        break
            except (ApiError, TransportError) as exc:
                if not calls.stream_error(exc, last_id, self._features):
                    return None
        raise WaitTimeoutError(job_id, timeout, last)


async def _notify(on_update: Callable[[JobView], object] | None, view: JobView) -> None:
    if on_update is not None:
        result = on_update(view)
        if inspect.isawaitable(result):
            await result
