"""The asyncio client: the same calls as ``Client``, awaitable.

Each request runs the blocking transport (httpx's sync client) in a worker
thread (``asyncio.to_thread``), so the two clients share every call and the
event loop never blocks; ``wait()`` long-polls like ``Client.wait`` and sleeps
with ``asyncio.sleep`` only when it must poll.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, BinaryIO

from tts_client.backoff import Backoff
from tts_client.client import (
    DEFAULT_API_URL,
    DEFAULT_WAIT_TIMEOUT,
    LONG_POLL_SECONDS,
    Client,
    is_retryable,
    same_view,
    time_left_to_ask,
)
from tts_client.errors import ApiError, ClientError, WaitTimeoutError
from tts_client.models import (
    ChapterEntry, Download, JobList, JobView, LexiconDocument, LexiconView, ModelInfo, TimingsDocument,
)


class AsyncClient:
    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sync = Client(api_url, token, timeout=timeout)
        self._clock = clock
        self._sleep = sleep

    @property
    def api_url(self) -> str:
        return self.sync.api_url

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sync.transport.close()

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
        return await asyncio.to_thread(
            functools.partial(
                self.sync.submit, text, model=model, voice=voice, format=format,
                ttl_seconds=ttl_seconds, idempotency_key=idempotency_key, **options,
            )
        )

    async def get(self, job_id: str) -> JobView:
        return await asyncio.to_thread(self.sync.get, job_id)

    async def list_jobs(self, *, limit: int | None = None, cursor: str | None = None) -> JobList:
        return await asyncio.to_thread(self.sync.list_jobs, limit=limit, cursor=cursor)

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
        await asyncio.to_thread(self.sync.delete, job_id)

    async def models(self) -> list[ModelInfo]:
        return await asyncio.to_thread(self.sync.models)

    async def put_lexicon(
        self, name: str, document: str | bytes | dict[str, Any] | os.PathLike[str], *, content_type: str | None = None
    ) -> LexiconView:
        return await asyncio.to_thread(functools.partial(self.sync.put_lexicon, name, document, content_type=content_type))

    async def lexicons(self) -> list[LexiconView]:
        return await asyncio.to_thread(self.sync.lexicons)

    async def get_lexicon(self, name: str) -> LexiconDocument:
        return await asyncio.to_thread(self.sync.get_lexicon, name)

    async def get_lexicon_pls(self, name: str) -> str:
        return await asyncio.to_thread(self.sync.get_lexicon_pls, name)

    async def delete_lexicon(self, name: str) -> None:
        await asyncio.to_thread(self.sync.delete_lexicon, name)

    async def download(
        self, job: str | JobView, sink: BinaryIO | str | os.PathLike[str], *, input: int | None = None  # noqa: A002
    ) -> Download:
        return await asyncio.to_thread(functools.partial(self.sync.download, job, sink, input=input))

    async def audio_bytes(self, job: str | JobView, *, input: int | None = None) -> bytes:  # noqa: A002
        return await asyncio.to_thread(functools.partial(self.sync.audio_bytes, job, input=input))

    async def captions(self, job: str | JobView, format: str = "vtt") -> str:  # noqa: A002
        return await asyncio.to_thread(self.sync.captions, job, format)

    async def timestamps(self, job: str | JobView) -> TimingsDocument:
        return await asyncio.to_thread(self.sync.timestamps, job)

    async def chapters(self, job: str | JobView) -> list[ChapterEntry]:
        return await asyncio.to_thread(self.sync.chapters, job)

    async def save_captions(self, job: str | JobView, path: str | os.PathLike[str]) -> str:
        return await asyncio.to_thread(self.sync.save_captions, job, path)

    async def wait(
        self,
        job_id: str,
        *,
        timeout: float = DEFAULT_WAIT_TIMEOUT,
        backoff: Backoff | None = None,
        on_update: Callable[[JobView], object] | None = None,
        long_poll: float = LONG_POLL_SECONDS,
    ) -> JobView:
        """As ``Client.wait`` (long-polls); ``on_update`` may be a plain function or a coroutine function."""
        deadline = self._clock() + timeout
        delays = (backoff or Backoff()).delays()
        last: JobView | None = None
        while True:
            pause: float | None = None
            previous = last
            asked = time_left_to_ask(deadline - self._clock(), long_poll, self.sync.transport.timeout)
            try:
                last = await asyncio.to_thread(self.sync._get_waiting, job_id, asked)
            except ClientError as exc:
                if not is_retryable(exc):
                    raise
                pause = exc.retry_after if isinstance(exc, ApiError) else None
            else:
                if on_update is not None:
                    result = on_update(last)
                    if inspect.isawaitable(result):
                        await result
                if last.status.is_terminal:
                    return last
                if asked and self.sync._long_poll and not same_view(previous, last):
                    continue  # the server waited for this change: ask again at once
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise WaitTimeoutError(job_id, timeout, last)
            await self._sleep(min(max(next(delays), pause or 0.0), remaining))
