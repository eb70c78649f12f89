"""The shard RPC is declared once per operation: each payload class against the method it runs,
the error table against the errors, and the wire against what a Durable Object call may carry."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from shared.errors import SHARD_ERRORS, BoundaryError, LeaseHeldError, ShardError, StorageUnavailableError
from shared.jobs.rpc import OPERATIONS, RPC_METHODS, ShardService
from shared.jobs.rpc_payloads import Operation
from shared.jobs.shard import Claim, Complete, Create, Get, JobShard
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock, MemoryShards, MemorySql

JOB = "a" * 32


def method_of(operation: type[Operation]) -> Any:
    target: Any = JobShard(MemorySql(), FakeClock())
    for name in operation.runs.split("."):
        target = getattr(target, name)
    return target


def record(clock: FakeClock) -> JobRecord:
    return JobRecord(job_id=JOB, tenant="t", status=JobStatus.QUEUED, text="hi", model="tone", format="wav",
                     created_at=clock(), updated_at=clock(), ttl_seconds=60)


@pytest.mark.parametrize("name", sorted(n for n, op in OPERATIONS.items() if not op.waits))
def test_each_payload_is_its_methods_keyword_arguments(name: str) -> None:
    operation = OPERATIONS[name]
    parameters = inspect.signature(method_of(operation)).parameters
    fields = operation.model_fields
    assert list(fields) == [p for p in parameters], f"{name}: fields in the method's order, named as its arguments"
    for field_name, field in fields.items():
        default = parameters[field_name].default
        if default is not inspect.Parameter.empty and not field.is_required():
            assert field.get_default(call_default_factory=True) == default, f"{name}.{field_name}: two defaults"


def test_the_table_names_each_operation_after_its_class_and_the_object_gets_one_method_each() -> None:
    assert RPC_METHODS == tuple(OPERATIONS)
    for name, operation in OPERATIONS.items():
        assert name == operation.__name__[0].lower() + operation.__name__[1:] == operation.rpc
        assert hasattr(operation, "encode") and hasattr(operation, "decode"), f"{name} names a reply kind"
    assert {"claim", "complete", "createWithinBudget", "listJobs", "chunkPlan", "lexiconPut", "reaperLease"} <= set(
        OPERATIONS
    )


def test_a_second_operation_of_the_same_name_is_refused() -> None:
    with pytest.raises(TypeError, match="two shard operations named 'claim'"):

        class Claim(Get):  # noqa: F811 - the point: a clash
            runs = "get"


def test_the_wire_carries_the_methods_argument_names() -> None:
    wire = Claim(job_id=JOB, lease_seconds=30, holder="m1").wire()
    assert wire == {"job_id": JOB, "lease_seconds": 30.0, "holder": "m1"}
    created = Create(record=record(FakeClock())).wire()
    assert created["record"]["jobId"] == JOB  # type: ignore[index] - a JobRecord keeps its own (camelCase) JSON


async def test_a_misspelt_or_bad_field_is_a_bad_payload_value_not_an_exception() -> None:
    service = ShardService(JobShard(MemorySql(), FakeClock()))
    for payload in ({"job_id": JOB, "leaseSeconds": 30}, {"job_id": JOB, "lease_seconds": -1}):
        reply = service.handle("claim", payload)
        assert reply["ok"] is False and reply["error"]["code"] == "bad_payload"  # type: ignore[index]
    with pytest.raises(ValueError, match="unknown RPC method"):
        service.handle("nope", {})


async def test_each_error_crosses_as_a_value_and_is_raised_again_with_its_fields() -> None:
    clock = FakeClock()
    shards = MemoryShards(clock, shard_count=1)
    await shards.client.call(Create(record=record(clock)))
    await shards.client.call(Claim(job_id=JOB, lease_seconds=30, holder="m1"))
    with pytest.raises(LeaseHeldError) as held:
        await shards.client.call(Claim(job_id=JOB, lease_seconds=30, holder="m2"))
    assert (held.value.job_id, held.value.lease_until, held.value.holder) == (JOB, clock() + 30, "m1")
    reply = shards.services["shard-0"].handle("claim", {"job_id": JOB, "lease_seconds": 30, "holder": "m2"})
    assert reply["error"] == {"code": "lease_held", "fields": {"job_id": JOB, "lease_until": clock() + 30, "holder": "m1"}}
    done = Complete(job_id="b" * 32, audio_key="k", mime_type="audio/wav", size_bytes=1, etag="e")
    with pytest.raises(Exception) as missing:
        await shards.client.call(done)
    assert type(missing.value).__name__ == "JobNotFoundError"


@pytest.mark.parametrize("code", sorted(SHARD_ERRORS))
def test_every_error_in_the_table_rebuilds_from_its_fields(code: str) -> None:
    from shared.errors import shard_error

    cls = SHARD_ERRORS[code]
    arguments = {name: f"x-{name}" for name in list(inspect.signature(cls.__init__).parameters)[1:]}
    if cls is StorageUnavailableError:
        arguments["condition"] = "disk_full"
    error = cls(**arguments)
    assert isinstance(error, ShardError) and error.code == code
    again = shard_error({"code": code, "fields": error.fields()})
    assert type(again) is cls and again.fields() == error.fields()


def test_an_unknown_error_value_is_a_boundary_error() -> None:
    from shared.errors import shard_error

    assert isinstance(shard_error({"code": "martian", "fields": {}}), BoundaryError)
    assert isinstance(shard_error({"code": "not_found", "fields": {"nope": 1}}), BoundaryError)


async def test_an_operation_without_a_job_needs_the_shard_named() -> None:
    from shared.jobs.shard import CountActive

    shards = MemoryShards(FakeClock(), shard_count=2)
    with pytest.raises(ValueError, match="countActive names no shard"):
        await shards.client.call(CountActive(tenant="t"))
    assert await shards.client.call(CountActive(tenant="t"), shard="shard-1") == 0
