"""Time and memory budgets of synthesis inside one queue consumer invocation.

A queue consumer invocation on Cloudflare has ``CONSUMER_WALL_SECONDS`` (15
minutes) of wall time and 128 MB of memory. The rules here size work so it
fits, with margin:

- **Deadline.** Each invocation's deadline is its start plus the wall time
  minus a margin (``deadline_margin``). A provider call is started only if
  its estimated duration fits before the deadline (``Deadline.fits``); its
  timeout is what its estimate allows, never past the deadline
  (``call_timeout``).
- **Speed.** Each model declares its speed in characters per second
  (``ModelSpec.chars_per_second``, overridden by ``MODEL_SPEEDS``); the
  invocation refines it from the chunks it has made (``SpeedBook``): the
  estimate takes the slower of declared and observed.
- **Chunk size.** A chunk takes at most one invocation's budget at the
  declared speed, and the copies of its audio a Worker holds fit the
  audio share of its memory, besides the provider's own limit
  (``fitting_chunk_chars``). Chunk sizes depend on declared values only,
  never on observations, so a job's chunk plan is the same in every
  invocation.
- **Memory at once.** Messages of one batch reserve their chunk's worst-case
  audio before synthesizing it (``MemoryGate``), so however many run at
  once, their audio stays inside the share.

Worst cases are written down in docs/cloudflare.md ("Worst cases against
the limits").
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from shared.synthesis.catalogue import ModelSpec
from shared.audio.formats import max_bytes_per_second

# How many copies of one chunk's audio a Worker holds at its peak: the
# provider's response body (JS), its bytes in Python, the body handed to R2 (JS).
AUDIO_COPIES = 3
# Of the isolate's memory, what chunk audio may take, all its copies counted. The rest is
# Pyodide and the Worker's imports (a 37.7 MB Wasm heap before any audio) and headroom:
# docs/benchmarks.md, "Memory of one chunk in Pyodide" (python -m bench.chunk_memory).
AUDIO_SHARE_OF_MEMORY = 0.5


def deadline_margin(wall_seconds: float) -> float:
    """Seconds kept back at the end of an invocation: for storing, settling and the R2 put."""
    return min(60.0, max(1.0, wall_seconds * 0.1))


@dataclass(frozen=True)
class Deadline:
    """When this invocation must have stopped starting work (monotonic-free: the caller's clock)."""

    at: float
    clock: Callable[[], float]

    @classmethod
    def starting_now(cls, clock: Callable[[], float], wall_seconds: float) -> Deadline:
        return cls(clock() + wall_seconds - deadline_margin(wall_seconds), clock)

    def left(self) -> float:
        return self.at - self.clock()

    def fits(self, seconds: float) -> bool:
        """Whether work estimated at ``seconds`` can finish before the deadline."""
        return seconds <= self.left()


# A provider's answer takes this long on top of its speed at worst (queueing, first byte): a short
# chunk of a slow-to-start provider must not time out.
CALL_LATENCY_SECONDS = 60.0


def call_timeout(estimate_seconds: float, deadline: Deadline, cap_seconds: float) -> float:
    """One provider call's timeout: twice its estimate plus the latency allowance, never past the
    deadline nor ``cap_seconds``."""
    return max(1.0, min(estimate_seconds * 2 + CALL_LATENCY_SECONDS, deadline.left(), cap_seconds))


def declared_speed(spec: ModelSpec, overrides: dict[str, float]) -> float:
    """Characters per second the model is taken to synthesize, before any observation."""
    return overrides.get(spec.id, spec.chars_per_second)


@dataclass
class SpeedBook:
    """Characters per second observed per model, in this isolate (a moving average)."""

    observed: dict[str, float] = field(default_factory=dict)
    weight: float = 0.3  # of the newest observation

    def record(self, model: str, characters: int, seconds: float) -> None:
        if characters <= 0 or seconds <= 0:
            return
        speed = characters / seconds
        old = self.observed.get(model)
        self.observed[model] = speed if old is None else old + self.weight * (speed - old)

    def estimate_seconds(self, spec: ModelSpec, characters: int, overrides: dict[str, float]) -> float:
        """Seconds ``characters`` of ``spec`` are expected to take: the slower of declared and observed."""
        speed = declared_speed(spec, overrides)
        seen = self.observed.get(spec.id)
        if seen is not None:
            speed = min(speed, seen)
        return characters / max(speed, 1e-6)


def audio_budget_bytes(memory_mb: int) -> int:
    """Bytes of audio (all copies counted) an isolate of ``memory_mb`` may hold at once."""
    return int(memory_mb * 1024 * 1024 * AUDIO_SHARE_OF_MEMORY)


def chunk_audio_bytes(spec: ModelSpec, characters: int) -> int:
    """An upper bound of the bytes a chunk of ``characters`` holds in a Worker, copies included."""
    worst_bytes_per_second = max(max_bytes_per_second(fmt, max(spec.sample_rates)) for fmt in spec.formats)
    return math.ceil(characters * spec.seconds_per_char * worst_bytes_per_second * AUDIO_COPIES)


def fitting_chunk_chars(spec: ModelSpec, *, wall_seconds: float, memory_mb: int, speed: float) -> int:
    """Characters per chunk so one chunk fits one invocation's budget and, alone, the audio share of memory."""
    budget = wall_seconds - deadline_margin(wall_seconds)
    by_time = math.floor(speed * budget)
    by_memory = math.floor(audio_budget_bytes(memory_mb) / max(chunk_audio_bytes(spec, 1), 1))
    return max(1, min(spec.max_input_chars, by_time, by_memory))


def chunks_per_task(chunk_seconds: float, wall_seconds: float, most: int) -> int:
    """How many chunks one queue message carries: what half an invocation's budget holds, 1 to ``most``."""
    budget = (wall_seconds - deadline_margin(wall_seconds)) / 2
    if chunk_seconds <= 0:
        return most
    return max(1, min(most, math.floor(budget / chunk_seconds)))


class MemoryGate:
    """Reservations of audio bytes within one invocation: a chunk waits until its worst case fits.

    A reservation larger than the whole budget is let through alone (nothing
    else held), so a single oversized chunk still runs rather than waiting for ever.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.held = 0
        self.peak = 0
        self._changed = asyncio.Condition()

    def try_reserve(self, size: int) -> bool:
        """Reserve ``size`` if it fits now (no waiting); False if it does not."""
        if self.held and self.held + size > self.budget:
            return False
        self.held += size
        self.peak = max(self.peak, self.held)
        return True

    async def reserve(self, size: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.held == 0 or self.held + size <= self.budget)
            self.held += size
            self.peak = max(self.peak, self.held)

    async def release(self, size: int) -> None:
        async with self._changed:
            self.held -= size
            self._changed.notify_all()


class DeadlineReached(Exception):
    """A provider call was not started: it would not finish before the invocation's deadline."""

    def __init__(self, characters: int, estimate_seconds: float, left_seconds: float) -> None:
        super().__init__(
            f"{characters} characters take about {estimate_seconds:.0f} s; {left_seconds:.0f} s left before the "
            "invocation's deadline"
        )
        self.characters = characters


@dataclass
class Pacer:
    """One invocation's pacing of one model's provider calls: start only what fits, time out by the estimate."""

    deadline: Deadline
    spec: ModelSpec | None
    speeds: SpeedBook
    overrides: dict[str, float]
    wall_seconds: float
    cap_seconds: float
    memory: MemoryGate | None = None

    @contextlib.asynccontextmanager
    async def holding(self, characters: int) -> AsyncIterator[None]:
        """Hold the worst-case audio of ``characters`` in the invocation's memory gate while inside."""
        if self.memory is None or self.spec is None:
            yield
            return
        size = chunk_audio_bytes(self.spec, characters)
        if not self.memory.try_reserve(size):
            # The memory is taken by chunks at work here. If waiting for them would leave too
            # little time, the chunk is better done by another invocation now than here later.
            if not self.deadline.fits(2 * self.estimate(characters)):
                raise DeadlineReached(characters, 2 * self.estimate(characters), self.deadline.left())
            await self.memory.reserve(size)
        try:
            yield
        finally:
            await self.memory.release(size)

    def estimate(self, characters: int) -> float:
        if self.spec is None:
            return 0.0
        return self.speeds.estimate_seconds(self.spec, characters, self.overrides)

    def fits(self, characters: int) -> bool:
        """Whether a call for ``characters`` may start now.

        Work longer than a whole invocation's budget (a model slower than
        declared) is started only at the start of an invocation, so it gets
        every second there is instead of being put off for ever.
        """
        estimate = self.estimate(characters)
        if self.deadline.fits(estimate):
            return True
        full = self.wall_seconds - deadline_margin(self.wall_seconds)
        return estimate > full and self.deadline.left() >= 0.9 * full

    def check(self, characters: int) -> None:
        """Raise ``DeadlineReached`` unless a call for ``characters`` may start now."""
        if not self.fits(characters):
            raise DeadlineReached(characters, self.estimate(characters), self.deadline.left())

    def timeout(self, characters: int) -> float:
        return call_timeout(self.estimate(characters), self.deadline, self.cap_seconds)

    def started(self) -> float:
        return self.deadline.clock()

    def finished(self, characters: int, started: float) -> None:
        if self.spec is not None:
            self.speeds.record(self.spec.id, characters, self.deadline.clock() - started)
