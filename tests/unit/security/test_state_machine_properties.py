"""Property tests of the job state machine, on a real shard (SQLite in memory).

Hypothesis drives random sequences of the operations the pipeline performs
(claims, completions, releases, failures, cancels, clock jumps, deletes) and
checks after every step that the shard agrees with a tiny model and that no
job is ever half written.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from shared.errors import IllegalTransitionError, JobNotFoundError, LeaseHeldError
from shared.jobs.shard import JobShard
from shared.jobs.state import can_transition
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemorySql

IDS = [f"{n:032x}" for n in range(1, 5)]
ids = st.sampled_from(IDS)
Q, P, C, F, X = (JobStatus.QUEUED, JobStatus.PROCESSING, JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELED)


class JobLifecycle(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = FakeClock()
        self.shard = JobShard(MemorySql(), self.clock)
        self.model: dict[str, JobStatus] = {}
        self.ever_terminal: dict[str, JobStatus] = {}

    def _record(self, job_id: str, deadline: float | None) -> JobRecord:
        return JobRecord(
            job_id=job_id, tenant="t", status=Q, text="hello", model="tone", format="wav",
            created_at=self.clock.now, updated_at=self.clock.now, ttl_seconds=600, deadline_at=deadline,
        )

    @rule(job_id=ids, deadline=st.none() | st.floats(min_value=1, max_value=300))
    def create(self, job_id: str, deadline: float | None) -> None:
        stored = self.shard.create(self._record(job_id, None if deadline is None else self.clock.now + deadline))
        self.model.setdefault(job_id, Q)
        assert stored.status is self.model[job_id]

    @rule(job_id=ids)
    def claim(self, job_id: str) -> None:
        before = self.shard.get(job_id)
        try:
            record = self.shard.claim(job_id, 30)
        except JobNotFoundError:
            assert job_id not in self.model
            return
        except LeaseHeldError:
            assert self.model[job_id] is P and before is not None and (before.lease_until or 0) > self.clock.now
            return
        if self.model[job_id].is_terminal:
            assert record.status is self.model[job_id]
        elif before is not None and before.deadline_at is not None and self.clock.now >= before.deadline_at:
            assert record.status is X and "deadline" in (record.error or "")
            self.model[job_id] = X
        else:
            assert record.status is P and record.lease_until == self.clock.now + 30
            assert record.attempts == before.attempts + 1 if before else True
            self.model[job_id] = P

    @rule(job_id=ids, step=st.sampled_from(["complete", "release", "fail", "cancel"]))
    def move(self, job_id: str, step: str) -> None:
        current = self.model.get(job_id)
        try:
            if step == "complete":
                record = self.shard.complete(
                    job_id, audio_key=f"audio/{job_id}.wav", mime_type="audio/wav", size_bytes=1, etag="e", characters=5
                )
                wanted = C
            elif step == "release":
                record = self.shard.release(job_id, "transient")
                wanted = Q if current is P else current
            elif step == "fail":
                record = self.shard.fail(job_id, "permanent")
                wanted = F
            else:
                record = self.shard.cancel(job_id)
                wanted = X
        except JobNotFoundError:
            assert current is None
            return
        except IllegalTransitionError:
            assert current is not None and not can_transition(current, {"complete": C, "fail": F, "cancel": X}[step])
            return
        assert current is not None
        assert record.status is wanted
        self.model[job_id] = wanted

    @rule(seconds=st.floats(min_value=0, max_value=400))
    def time_passes(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(job_id=ids)
    def delete(self, job_id: str) -> None:
        assert self.shard.delete([job_id]) == (1 if job_id in self.model else 0)
        self.model.pop(job_id, None)
        self.ever_terminal.pop(job_id, None)

    @invariant()
    def shard_matches_the_model_and_rows_are_whole(self) -> None:
        for job_id in IDS:
            record = self.shard.get(job_id, with_text=True)
            if job_id not in self.model:
                assert record is None
                continue
            assert record is not None and record.status is self.model[job_id]
            assert record.text == "hello"  # never lost
            terminal = record.status.is_terminal
            assert (record.expires_at is not None) == terminal
            assert (record.completed_at is not None) == terminal
            assert record.lease_until is None or record.status is P
            if record.status is C:
                assert record.audio_key and record.mime_type and record.size_bytes is not None
            if terminal:  # a final state never changes
                assert self.ever_terminal.setdefault(job_id, record.status) is record.status


JobLifecycle.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_job_lifecycle = JobLifecycle.TestCase
