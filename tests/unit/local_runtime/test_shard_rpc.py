"""Durable Object RPC between processes (local_runtime/shard_rpc.py): the split runtime's Workers
reach the shards their supervisor hosts, with the same answers, errors and boundary rules as the
in-process stub, many calls in flight, and waits woken by calls from another connection."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.sql import SqliteDurableObjectNamespace
from local_runtime.shard_rpc import RemoteShardHost, ShardCallError, ShardRpcServer
from local_runtime.shards import LocalShardHost
from shared.errors import BoundaryError, JobNotFoundError
from shared.models import JobRecord, JobStatus
from tests.fakes import FakeClock


class Host:
    """A shard host served on a socket, and a way to connect callers to it."""

    def __init__(self, data: Path, sock: Path) -> None:
        self.clock = FakeClock()
        self.namespace = SqliteDurableObjectNamespace(data)
        self.shards = LocalShardHost(self.namespace, self.clock)
        self.notices: list[dict[str, Any]] = []
        self.server = ShardRpcServer(self.shards, sock, self.notices.append)
        self.sock = sock
        self.callers: list[RemoteShardHost] = []

    async def caller(self, meter: Meter | None = None, on_lost: Any = None) -> RemoteShardHost:
        remote = RemoteShardHost(self.sock, meter)
        await remote.connect(on_lost)
        self.callers.append(remote)
        return remote

    def record(self, job_id: str, text: str = "hi") -> JobRecord:
        now = self.clock()
        return JobRecord(job_id=job_id, tenant="t", status=JobStatus.QUEUED, text=text, model="tone",
                         format="wav", created_at=now, updated_at=now, ttl_seconds=60)


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    with tempfile.TemporaryDirectory(prefix="tts-") as short:  # a socket path has ~100 bytes
        served = Host(tmp_path, Path(short) / "shards.sock")
        await served.server.start()
        try:
            yield served
        finally:
            for caller in served.callers:
                caller.close()
            await served.server.close()
            served.namespace.close()


async def test_a_job_goes_through_its_life_over_the_socket_as_in_process(host: Host) -> None:
    jobs = (await host.caller()).client(4)
    local = host.shards.client(4)
    job_id = "a" * 32
    created = await jobs.create(host.record(job_id))
    assert created.status is JobStatus.QUEUED
    assert await jobs.get(job_id, with_text=True) == await local.get(job_id, with_text=True)
    claimed = await jobs.claim(job_id, 30, "consumer-1")
    assert claimed.status is JobStatus.PROCESSING
    done = await jobs.complete(job_id, audio_key="audio/a.wav", mime_type="audio/wav", size_bytes=100,
                               etag="e", characters=2)
    assert done.status is JobStatus.COMPLETED and await local.get(job_id) == done


async def test_the_shards_answers_that_are_errors_raise_their_own_types(host: Host) -> None:
    jobs = (await host.caller()).client(4)
    with pytest.raises(JobNotFoundError):
        await jobs.claim("b" * 32, 30, "consumer-1")


async def test_a_payload_that_cannot_cross_is_refused_where_the_call_is_made(host: Host) -> None:
    meter = Meter()
    stub = (await host.caller(meter)).stub("shard-0")
    with pytest.raises(BoundaryError, match=r"get\(\) payload\.jobId: tuple is not allowed"):
        await stub.call("get", {"jobId": ("a",)})
    assert meter.get("do.requests") == 1  # counted as the in-process stub counts it: a request was made


async def test_a_shard_that_raises_gives_the_caller_a_bare_error_and_goes_on(host: Host) -> None:
    stub = (await host.caller()).stub("shard-0")
    with pytest.raises(ShardCallError, match="unknown RPC method 'nope'"):
        await stub.call("nope", {})
    reply = await stub.call("get", {"jobId": "c" * 32})  # the connection still serves
    assert reply == {"ok": True, "result": None}


async def test_many_calls_in_flight_on_one_connection_each_get_their_own_answer(host: Host) -> None:
    jobs = (await host.caller()).client(4)
    ids = [f"{i:032x}" for i in range(200)]
    await asyncio.gather(*(jobs.create(host.record(i, text=f"text {i}")) for i in ids))
    records = await asyncio.gather(*(jobs.get(i, with_text=True) for i in ids))
    assert [(r.job_id, r.text) for r in records if r is not None] == [(i, f"text {i}") for i in ids]


async def test_a_wait_on_one_connection_is_woken_by_a_call_on_another(host: Host) -> None:
    api = (await host.caller()).client(4)
    consumer = (await host.caller()).client(4)
    job_id = "d" * 32
    await api.create(host.record(job_id))
    waiting = asyncio.ensure_future(api.wait_for_change(job_id, 10, since_status=JobStatus.QUEUED))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    got = await api.get(job_id)  # a wait does not hold up the connection's other calls
    assert got is not None and got.status is JobStatus.QUEUED
    await consumer.claim(job_id, 30, "consumer-1")
    record, outcome = await asyncio.wait_for(waiting, 5)
    assert outcome == "changed" and record is not None and record.status is JobStatus.PROCESSING


async def test_notices_reach_the_host(host: Host) -> None:
    remote = await host.caller()
    remote.notice({"ready": "api", "url": "http://127.0.0.1:1"})
    await remote.stub("shard-0").call("get", {"jobId": "e" * 32})  # after the notice, on the same stream
    assert host.notices == [{"ready": "api", "url": "http://127.0.0.1:1"}]


async def test_when_the_host_goes_the_callers_calls_fail_and_it_is_told(host: Host) -> None:
    lost = asyncio.Event()
    remote = await host.caller(on_lost=lost.set)
    jobs = remote.client(4)
    job_id = "f" * 32
    await jobs.create(host.record(job_id))
    waiting = asyncio.ensure_future(jobs.wait_for_change(job_id, 30, since_status=JobStatus.QUEUED))
    await asyncio.sleep(0.05)
    await host.server.close()
    with pytest.raises(ShardCallError):
        await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(lost.wait(), 5)
    with pytest.raises(ShardCallError, match="gone"):
        await jobs.get(job_id)
