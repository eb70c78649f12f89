"""The base of every shard RPC operation, the table ``OPERATIONS``, and the kinds of reply.

An operation is declared once, as a payload class beside the method it runs
(shared/jobs/shard.py, chunks.py, reaper_state.py, lexicons.py, waiters.py):

- its fields are that method's keyword arguments, with the same names (on the
  wire too: the only camelCase inside a payload is a ``JobRecord``'s own);
- ``runs`` names the method, as a path from the ``JobShard`` (``"claim"``,
  ``"chunks.claim"``); the class name is the RPC method (``Claim`` -> ``claim``);
- a reply mixin (``ReturnsRecord``, ...) says how the method's result crosses
  the boundary: ``encode`` inside the Durable Object, ``decode`` at the caller.

Defining such a class registers it in ``OPERATIONS``, from which come the
Durable Object's RPC methods, its dispatch (shared/jobs/rpc.py) and the
caller's one generic ``JobsClient.call``. ``extra="forbid"`` refuses a field
the operation does not know, so a caller's typo is a ``bad_payload`` error,
not a silently ignored value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from shared.errors import PipelineError, ShardError, error_value, shard_error
from shared.models import JobRecord
from shared.ports import JsonValue

MAX_PAGE_ROWS = 1000
"""The most rows (or job ids) one paged shard operation takes or returns."""

R_co = TypeVar("R_co", covariant=True)

OPERATIONS: dict[str, type[Operation]] = {}
"""Every operation by RPC name, filled as the modules declaring them are imported (shared/jobs/rpc.py imports all)."""


class Operation(BaseModel):
    """A shard RPC payload. A subclass that sets ``runs`` is an operation (registered
    in ``OPERATIONS`` under its ``rpc`` name); one without is a base for others."""

    # Built on first use, not at import: every Worker imports the table, and a class's
    # schema costs milliseconds of cold start in Pyodide.
    model_config = ConfigDict(extra="forbid", defer_build=True)

    rpc: ClassVar[str]
    runs: ClassVar[str]
    changes: ClassVar[bool] = False
    """After it ran, the waiters of the jobs it names (``jobs()``) are woken (shared/jobs/waiters.py)."""
    replays: ClassVar[bool] = False
    """Its result may be a job created earlier (an idempotent replay): that job's unsent messages go out too."""
    waits: ClassVar[bool] = False
    """It awaits inside the object (``waitForChange``) instead of running one transaction."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "runs" not in cls.__dict__:
            return
        name = cls.__name__[0].lower() + cls.__name__[1:]
        if name in OPERATIONS:
            raise TypeError(f"two shard operations named {name!r}: {OPERATIONS[name]} and {cls}")
        if not hasattr(cls, "encode") or not hasattr(cls, "decode"):
            raise TypeError(f"shard operation {cls.__name__} names no reply kind (ReturnsRecord, ...)")
        cls.rpc = name
        OPERATIONS[name] = cls

    def kwargs(self) -> dict[str, Any]:
        """The method's keyword arguments: the fields as validated (nested models stay models)."""
        return {name: getattr(self, name) for name in type(self).model_fields}

    def wire(self) -> dict[str, JsonValue]:
        """The payload as it crosses the boundary: plain JSON-like values."""
        return self.model_dump(mode="json", by_alias=True)

    def destination(self, shard_of: Callable[[str], str]) -> str | None:
        """The object it goes to, when the payload says (a job's shard); None: the caller names it."""
        return None

    def jobs(self) -> Sequence[str]:
        """The ids of the jobs it may change (their waiters are woken after it ran)."""
        return ()


class JobOperation(Operation):
    """An operation on one job: it goes to the job's shard."""

    job_id: str

    def destination(self, shard_of: Callable[[str], str]) -> str | None:
        return shard_of(self.job_id)

    def jobs(self) -> Sequence[str]:
        return (self.job_id,)


class Call(Protocol[R_co]):
    """What ``JobsClient.call`` takes: an operation whose reply decodes to ``R_co``."""

    rpc: ClassVar[str]

    def wire(self) -> dict[str, JsonValue]: ...

    def destination(self, shard_of: Callable[[str], str]) -> str | None: ...

    def decode(self, data: Any) -> R_co: ...


# --- reply kinds: how a method's result crosses the boundary, both ways ------------------


class ReturnsRecord:
    @staticmethod
    def encode(result: JobRecord) -> JsonValue:
        return result.to_rpc()

    def decode(self, data: Any) -> JobRecord:
        return JobRecord.model_validate(data)


class ReturnsOutcomes:
    """One answer per item of a batched operation, each on its own: the job, or the error that item met."""

    @staticmethod
    def encode(result: Sequence[JobRecord | ShardError]) -> JsonValue:
        return [
            {"ok": True, "result": r.to_rpc()} if isinstance(r, JobRecord) else {"ok": False, "error": error_value(r)}
            for r in result
        ]

    def decode(self, data: Any) -> list[JobRecord | PipelineError]:
        return [
            JobRecord.model_validate(item["result"]) if item.get("ok") else shard_error(item.get("error") or {})
            for item in data
        ]


class ReturnsMaybeRecord:
    @staticmethod
    def encode(result: JobRecord | None) -> JsonValue:
        return result.to_rpc() if result is not None else None

    def decode(self, data: Any) -> JobRecord | None:
        return JobRecord.model_validate(data) if data is not None else None


class ReturnsRecords:
    @staticmethod
    def encode(result: Sequence[JobRecord]) -> JsonValue:
        return [r.to_rpc() for r in result]

    def decode(self, data: Any) -> list[JobRecord]:
        return [JobRecord.model_validate(r) for r in data]


class ReturnsCount:
    @staticmethod
    def encode(result: int) -> JsonValue:
        return int(result)

    def decode(self, data: Any) -> int:
        return int(data)


class ReturnsFlag:
    @staticmethod
    def encode(result: bool) -> JsonValue:
        return bool(result)

    def decode(self, data: Any) -> bool:
        return bool(data)


class ReturnsDict:
    """A plain JSON object, built by the method itself."""

    @staticmethod
    def encode(result: dict[str, Any]) -> JsonValue:
        return result

    def decode(self, data: Any) -> dict[str, Any]:
        return dict(data)


class ReturnsList:
    """A plain JSON array, built by the method itself."""

    @staticmethod
    def encode(result: list[Any]) -> JsonValue:
        return result

    def decode(self, data: Any) -> list[Any]:
        return list(data)


class ReturnsMaybeDict:
    @staticmethod
    def encode(result: dict[str, Any] | None) -> JsonValue:
        return result

    def decode(self, data: Any) -> dict[str, Any] | None:
        return dict(data) if data is not None else None
