"""The local runtime's ``Offload`` (local_runtime/offload.py): blocking work off the event loop."""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from local_runtime.offload import ThreadOffload, pool_size
from shared.ports import SynthesisRequest
from shared.synthesis.encoding import EncodingSynthesizer
from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.tone import ToneSynthesizer

T = TypeVar("T")
WHO = contextvars.ContextVar("who", default="nobody")


async def test_the_loop_goes_on_while_blocking_work_runs_on_another_thread() -> None:
    offload = ThreadOffload(2)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    def blocking() -> tuple[str, str]:
        time.sleep(0.3)  # a native call that releases the GIL
        return threading.current_thread().name, WHO.get()

    ticker = asyncio.ensure_future(tick())
    try:
        WHO.set("caller")
        thread, who = await offload(blocking)
    finally:
        ticker.cancel()
        offload.close()
    assert thread.startswith("synthesis") and thread != threading.current_thread().name
    assert who == "caller"  # the caller's context travels with the work
    assert ticks >= 10  # the loop kept running: blocking inline it would have ticked 0 times


def test_zero_threads_means_one_per_core() -> None:
    assert pool_size(0) == (os.cpu_count() or 1)
    assert pool_size(3) == 3


class RecordingOffload:
    """An ``Offload`` that runs the work in place and remembers what it was given."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, fn: Callable[..., T], /, *args: Any) -> T:
        self.calls.append(getattr(fn, "__qualname__", repr(fn)))
        return fn(*args)


class HalvingEncoder:
    format = "mp3"
    delay_samples = 0

    def sample_rates(self, offered: list[int]) -> list[int]:
        return offered

    def encode(self, pcm: bytes, sample_rate: int) -> bytes:
        return pcm[: len(pcm) // 2]


async def test_the_offline_models_hand_their_blocking_work_to_the_offload() -> None:
    offload = RecordingOffload()
    await ToneSynthesizer(offload=offload).synthesize(SynthesisRequest("hi", "tone", None, "wav"))
    mp3 = EncodingSynthesizer(ToneSynthesizer(offload=offload), HalvingEncoder(), offload)
    await mp3.synthesize(SynthesisRequest("hi", "tone", None, "mp3", 24000))
    calls = ["ToneSynthesizer._render", "ToneSynthesizer._render", "HalvingEncoder.encode"]
    if EspeakSynthesizer.available():
        await EspeakSynthesizer(offload=offload).synthesize(SynthesisRequest("hi", "espeak", None, "wav"))
        calls.append("EspeakSynthesizer._render")
    assert offload.calls == calls
