"""The local shard stub checks replies without copying them: safe because each reply is built
afresh for its call, which this test holds it to (local_runtime/shards.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.shards import LocalShardHost
from shared.errors import BoundaryError
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock


async def test_a_reply_changed_by_its_caller_changes_nothing_else(tmp_path: Path) -> None:
    namespace = SqliteDurableObjectNamespace(tmp_path)
    try:
        clock = FakeClock()
        host = LocalShardHost(namespace, clock)
        stub = host.stub("shard-0")
        record = JobRecord(job_id="a" * 32, tenant="t", status=JobStatus.QUEUED, text="hi", model="tone",
                           format="wav", created_at=clock(), updated_at=clock(), ttl_seconds=60)
        payload = {"record": record.to_rpc()}
        created = await stub.call("create", payload)
        payload["record"]["tenant"] = "mallory"  # the caller's payload is the caller's: copied on the way in
        first = await stub.call("get", {"job_id": record.job_id})
        first["result"]["status"] = "completed"
        first["result"]["tenant"] = "mallory"
        second = await stub.call("get", {"job_id": record.job_id})
        assert created["ok"] and second["result"]["status"] == "queued" and second["result"]["tenant"] == "t"
        assert first is not second and first["result"] is not second["result"]
        with pytest.raises(BoundaryError, match=r"get\(\) payload\.job_id: tuple is not allowed"):
            await stub.call("get", {"job_id": ("a",)})
    finally:
        namespace.close()
