"""Progress display: plain lines off a terminal, a redrawn bar on one; reading ``progress``."""

from __future__ import annotations

import io
from typing import Any

from shared.models import JobView
from tests.fake_api import job_json
from tts_client import Progress, progress_of
from tts_client.progress import ProgressReporter, bar


class Ticking:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def view(status: str, **fields: Any) -> JobView:
    return JobView.model_validate(job_json("b" * 32, status, **fields))


class JobViewWithProgress(JobView):
    """JobView with chunk progress, for a ``shared.models`` that does not have it yet."""

    progress: dict[str, int] | None = None  # type: ignore[assignment]


def with_progress(status: str, done: int, total: int) -> JobView:
    cls = JobView if "progress" in JobView.model_fields else JobViewWithProgress
    return cls.model_validate(job_json("b" * 32, status, progress={"done": done, "total": total}))


def test_progress_is_read_when_present_and_none_when_absent() -> None:
    assert progress_of(view("processing")) is None
    assert progress_of(with_progress("processing", 3, 8)) == Progress(3, 8)
    assert progress_of(with_progress("processing", 1, 0)) is None


def test_bar_fills_in_proportion() -> None:
    assert bar(Progress(0, 4), width=8) == "--------"
    assert bar(Progress(2, 4), width=8) == "####----"
    assert bar(Progress(9, 4), width=8) == "########"


def test_off_a_terminal_each_change_is_one_plain_line() -> None:
    out = io.StringIO()
    reporter = ProgressReporter(out, live=False)
    for status in ["queued", "queued", "processing", "processing", "completed"]:
        reporter.update(view(status))
    reporter.close()
    assert out.getvalue().splitlines() == [
        f"job {'b' * 32}: queued", f"job {'b' * 32}: processing", f"job {'b' * 32}: completed",
    ]


def test_on_a_terminal_the_bar_redraws_in_place_while_sleeping() -> None:
    out = io.StringIO()
    ticking = Ticking()
    reporter = ProgressReporter(out, live=True, clock=ticking.clock, sleep=ticking.sleep)
    reporter.update(with_progress("processing", 1, 2))
    reporter.sleep(0.35)
    reporter.update(view("completed"))
    reporter.close()
    text = out.getvalue()
    frames = text.split("\r")[1:]
    assert len(frames) >= 5  # first draw, three or four ticks, completion, final
    assert "1/2 chunks" in frames[0] and "\n" not in "".join(frames[:-1])
    assert frames[-1].startswith(("✔ completed", "+ completed")) and text.endswith("\n")


def test_live_bar_shows_percent_chunks_and_elapsed_and_spins_only_while_queued() -> None:
    out = io.StringIO()
    ticking = Ticking()
    reporter = ProgressReporter(out, live=True, clock=ticking.clock, sleep=ticking.sleep)
    reporter.update(view("queued"))
    reporter.sleep(0.25)
    queued = out.getvalue().split("\r")[1:]
    assert len({frame[0] for frame in queued}) > 1  # the spinner turns
    reporter.update(with_progress("processing", 3, 4))
    reporter.sleep(0.25)
    processing = out.getvalue().split("\r")[len(queued) + 1:]
    assert all(frame.startswith("  processing") for frame in processing)  # no spinner once it runs
    assert "75%" in processing[0] and "3/4 chunks" in processing[0] and "00:00" in processing[0]
    reporter.update(view("completed"))
    reporter.close()
    assert "100%" in out.getvalue().split("\r")[-1]


def test_off_a_terminal_chunk_progress_carries_a_percent() -> None:
    out = io.StringIO()
    reporter = ProgressReporter(out, live=False)
    reporter.update(with_progress("processing", 1, 4))
    assert out.getvalue() == f"job {'b' * 32}: processing 25% (1/4 chunks)\n"
