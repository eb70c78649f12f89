"""The reaper: deletes what has outlived its time (backstop to R2 lifecycle rules).

Per run: expired jobs lose their audio, then their rows (``purge``); jobs
stuck in queued or processing are re-sent, re-queued or failed
(``repair``); objects no live job points at are deleted (``sweep``). See
docs/reaper.md for the rules, the budget and the costs.
"""

from shared.reaper.purge import purge_expired
from shared.reaper.report import ReaperReport
from shared.reaper.run import run_reaper

__all__ = ["ReaperReport", "purge_expired", "run_reaper"]
