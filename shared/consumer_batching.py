"""One consumer batch's claims and completions, sent as one Durable Object request per shard.

The messages of a batch are worked on concurrently, each on its own: it is
claimed, synthesized, stored, completed, and settled (acked or retried) as
soon as its outcome is known. What they share is the shard calls: each
claim and each completion is handed to a ``ShardBatcher``, which sends the
items gathered for one shard as one batched operation (``ClaimBatch``,
``CompleteBatch``: shared/jobs/shard.py) once every member of the batch that
may still hand it an item has done so, or the first item has waited
``linger`` seconds. The shard runs each item in its own transaction and
answers each on its own, so one job's refusal (a live lease, a missing job)
is that job's alone.

A lone job is a batch of one: its call goes at once, with no wait for company.

Worst case per batch (docs/architecture.md, "What one job costs the Durable
Objects"): with ``B`` messages and ``S`` shards, at most ``min(B, S)`` claim
requests and as many completion requests, each under Cloudflare's RPC size
limit: a claim answer carries each job's text, so a request holds at most
``claim_items_per_request`` items, and a batch claims at most ``claim_window``
jobs ahead of their work (their texts are held until each settles).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from shared.errors import PipelineError
from shared.jobs.client import JobsClient
from shared.jobs.shard import MAX_BATCH_ITEMS, ClaimBatch, ClaimItem, CompleteBatch, CompleteItem
from shared.models import JobRecord
from shared.platform_limits import MIB, RPC_MAX_BYTES

I = TypeVar("I")

COMPLETE_LINGER_SECONDS = 0.05
"""The longest a finished job's completion waits for others of its batch to join its request."""
RECORD_BYTES = 16 * 1024
"""A claimed record's size besides its text, at most (its other fields are short)."""
TEXT_BYTES_PER_CHAR = 4
"""The most bytes a character of a job's text takes, in UTF-8 or in JS (an astral character: 2 UTF-16 units)."""
CLAIM_AHEAD_BYTES = 16 * MIB
"""The most text a batch holds claimed ahead of its work (a Worker has 128 MB)."""


def claim_items_per_request(max_text_chars: int) -> int:
    """How many claims one request may carry: their answers, texts included, stay under the RPC limit."""
    return max(1, min(MAX_BATCH_ITEMS, RPC_MAX_BYTES // (TEXT_BYTES_PER_CHAR * max_text_chars + RECORD_BYTES)))


def claim_window(max_text_chars: int, concurrency: int) -> int:
    """How many jobs of a batch are claimed together (the rest wait for the next window)."""
    return max(concurrency, CLAIM_AHEAD_BYTES // (TEXT_BYTES_PER_CHAR * max_text_chars + RECORD_BYTES))


Send = Callable[[str, list[I]], Awaitable[Sequence[JobRecord | PipelineError]]]


class ShardBatcher(Generic[I]):
    """Gathers one operation's items from the members of a batch; each shard's go as one request."""

    def __init__(
        self, jobs: JobsClient, send: Send[I], members: Sequence[str], *, linger: float, most: int
    ) -> None:
        self._jobs = jobs
        self._send = send
        self._members = set(members)  # the members that may still hand an item
        self._linger = linger
        self._most = most  # items per request
        self._waiting: list[tuple[str, str, I, asyncio.Future[JobRecord]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.requests = 0

    async def ask(self, member: str, job_id: str, item: I) -> JobRecord:
        """The item's answer: the job as the shard left it, or the item's own error, raised."""
        future: asyncio.Future[JobRecord] = asyncio.get_running_loop().create_future()
        self._waiting.append((member, job_id, item, future))
        self._consider()
        return await future

    def leave(self, member: str) -> None:
        """``member`` hands no (more) items: the others need not wait for it."""
        if member in self._members:
            self._members.discard(member)
            self._consider()

    def _consider(self) -> None:
        if not self._waiting:
            return
        if len(self._waiting) >= len(self._members):
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._linger, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiting, self._waiting = self._waiting, []
        groups: dict[str, list[tuple[str, I, asyncio.Future[JobRecord]]]] = {}
        for member, job_id, item, future in waiting:
            self._members.discard(member)
            groups.setdefault(self._jobs.shard_of(job_id), []).append((job_id, item, future))
        loop = asyncio.get_running_loop()
        for shard, entries in groups.items():
            for start in range(0, len(entries), self._most):
                task = loop.create_task(self._request(shard, entries[start : start + self._most]))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _request(self, shard: str, entries: list[tuple[str, I, asyncio.Future[JobRecord]]]) -> None:
        self.requests += 1
        try:
            answers = await self._send(shard, [item for _, item, _ in entries])
            if len(answers) != len(entries):
                raise PipelineError(f"shard {shard} answered {len(answers)} of {len(entries)} batched items")
        except BaseException as exc:  # the request itself failed: each of its items met that failure
            for _, _, future in entries:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, future), answer in zip(entries, answers):
            if future.done():
                continue
            if isinstance(answer, JobRecord):
                future.set_result(answer)
            else:
                future.set_exception(answer)


class BatchCalls:
    """The claims and completions of one window of a consumer batch (``members``: its job messages' ids)."""

    def __init__(
        self, jobs: JobsClient, members: Sequence[str], *, lease_seconds: float, max_text_chars: int,
        linger: float = COMPLETE_LINGER_SECONDS,
    ) -> None:
        async def claim(shard: str, items: list[ClaimItem]) -> Sequence[JobRecord | PipelineError]:
            return await jobs.call(ClaimBatch(items=items, lease_seconds=lease_seconds), shard=shard)

        async def complete(shard: str, items: list[CompleteItem]) -> Sequence[JobRecord | PipelineError]:
            return await jobs.call(CompleteBatch(items=items), shard=shard)

        # Claims wait for every member (they all ask at once); completions for at most ``linger``.
        self.claims: ShardBatcher[ClaimItem] = ShardBatcher(
            jobs, claim, members, linger=linger, most=claim_items_per_request(max_text_chars)
        )
        self.completions: ShardBatcher[CompleteItem] = ShardBatcher(
            jobs, complete, members, linger=linger, most=MAX_BATCH_ITEMS
        )

    async def claim(self, member: str, job_id: str, holder: str) -> JobRecord:
        return await self.claims.ask(member, job_id, ClaimItem(job_id=job_id, holder=holder))

    async def complete(self, member: str, item: CompleteItem) -> JobRecord:
        return await self.completions.ask(member, item.job_id, item)

    def settled(self, member: str) -> None:
        """``member``'s message is settled (or never reached the call): stop waiting for it."""
        self.claims.leave(member)
        self.completions.leave(member)


class Slot:
    """One message's place under its batch's concurrency gate, given back at most once: when
    its synthesis and put are done (so a finished job waiting for its completion's request
    holds no place), or when it ends."""

    def __init__(self, gate: asyncio.Semaphore | None) -> None:
        self._gate = gate
        self._held = False

    async def take(self) -> None:
        if self._gate is not None and not self._held:
            await self._gate.acquire()
            self._held = True

    def give_back(self) -> None:
        if self._gate is not None and self._held:
            self._held = False
            self._gate.release()
