"""Durable Object RPC between processes: the shards live in one process, the Workers call in.

On Cloudflare each ``TtsJobDurableObject`` shard runs in one place and every
Worker reaches it by RPC. The split local runtime (``local_runtime.processes``)
does the same: the supervisor hosts every shard (``LocalShardHost``, the only
process that opens their SQLite files, so each has a single writer) and
serves them on a Unix socket; the api, consumer and reaper processes hold
``RemoteShardHost`` stubs instead of in-process ones.

The wire: one compact JSON object per line, both ways, many calls in flight
per connection (matched by ``id``).

- call: ``{"id": 7, "shard": "shard-2", "method": "claim", "payload": {...}}``
- its answer: ``{"id": 7, "reply": {...}}`` (the shard's ``{"ok": ...}`` value), or
  ``{"id": 7, "raised": "..."}`` when the shard raised (on Cloudflare a bare
  JS ``Error``: the Python type does not cross, so here neither does it)
- a notice from a process to the supervisor (no answer): ``{"notice": {...}}``

The same boundary rules as the in-process stub (``local_runtime.shards``):
the payload is checked where the call is made (types, 32 MiB), the reply
where it is made; JSON on the wire is the copy. A shard runs one call at a
time: the synchronous operations run to completion in the order their lines
arrive, and a waiting one (``waitForChange``) parks as its own task.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local_runtime.bindings.boundary import check_rpc_value
from local_runtime.bindings.meter import DO_REQUESTS, Meter, count
from local_runtime.shards import RPC_MAX_BYTES, LocalShardHost
from shared.errors import PipelineError
from shared.jobs.client import JobsClient
from shared.jobs.rpc import OPERATIONS
from shared.ports import JsonValue

log = logging.getLogger(__name__)

Notice = Callable[[dict[str, Any]], None]


class ShardCallError(PipelineError):
    """The shard raised, or its host went away, during a call: the message is all that crosses."""


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


class _Lines(asyncio.Protocol):
    """Splits the stream into lines and hands each complete batch of them to ``lines``."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._partial = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._partial:
            data, self._partial = self._partial + data, b""
        *complete, self._partial = data.split(b"\n")
        if complete:
            self.lines(complete)

    def lines(self, lines: list[bytes]) -> None:
        raise NotImplementedError

    def send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


# --- the host's side -------------------------------------------------------------


class ShardRpcServer:
    """Serves ``host``'s shards on a Unix socket at ``path`` until ``close()``."""

    def __init__(self, host: LocalShardHost, path: Path, on_notice: Notice | None = None) -> None:
        self.host = host
        self.path = path
        self.on_notice = on_notice
        self._server: asyncio.AbstractServer | None = None
        self._waits: set[asyncio.Task[None]] = set()
        self.connections: set[_ServerSide] = set()

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_unix_server(lambda: _ServerSide(self), str(self.path))

    async def close(self) -> None:
        """Stops serving: waits still open are answered with an error, connections closed."""
        for task in list(self._waits):
            task.cancel()
        if self._waits:
            await asyncio.wait(list(self._waits))
        for side in list(self.connections):
            if side.transport is not None:
                side.transport.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def answer(self, call: dict[str, Any]) -> bytes | None:
        """The answer line to a synchronous call; None when the call waits (then a task answers)."""
        operation = OPERATIONS.get(call.get("method", ""))
        if operation is not None and operation.wait is not None:
            return None
        return self._run_sync(call)

    def _run_sync(self, call: dict[str, Any]) -> bytes:
        try:
            reply = self.host.service(str(call["shard"])).handle(str(call["method"]), call.get("payload"))
            return self._reply(call, reply)
        except Exception as exc:  # a bug or a storage error: the caller gets it as a bare error
            log.exception("shard call %s raised", call.get("method"))
            return _line({"id": call.get("id"), "raised": f"{type(exc).__name__}: {exc}"})

    def _reply(self, call: dict[str, Any], reply: Any) -> bytes:
        method = call.get("method")
        checked = check_rpc_value(reply, what=f"{method}() reply", max_bytes=RPC_MAX_BYTES, copy=False)
        return _line({"id": call.get("id"), "reply": checked})

    def wait(self, call: dict[str, Any], side: _ServerSide) -> None:
        async def run() -> None:
            try:
                reply = await self.host.service(str(call["shard"])).handle_async(str(call["method"]), call.get("payload"))
                line = self._reply(call, reply)
            except asyncio.CancelledError:
                line = _line({"id": call.get("id"), "raised": "the Durable Object host is stopping"})
            except Exception as exc:
                log.exception("shard call %s raised", call.get("method"))
                line = _line({"id": call.get("id"), "raised": f"{type(exc).__name__}: {exc}"})
            side.send(line)

        task = asyncio.get_running_loop().create_task(run())
        self._waits.add(task)
        task.add_done_callback(self._waits.discard)


class _ServerSide(_Lines):
    def __init__(self, server: ShardRpcServer) -> None:
        super().__init__()
        self._server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)

    def lines(self, lines: list[bytes]) -> None:
        out: list[bytes] = []
        for raw in lines:
            message = json.loads(raw)
            if "notice" in message:
                if self._server.on_notice is not None:
                    self._server.on_notice(message["notice"])
                continue
            answer = self._server.answer(message)
            if answer is None:
                self._server.wait(message, self)
            else:
                out.append(answer)
        if out:
            self.send(b"".join(out))  # one write for every answer this read brought


# --- the callers' side -----------------------------------------------------------


class RemoteShardHost:
    """A process's connection to the shard host: stubs for ``JobsClient`` and notices."""

    def __init__(self, path: Path, meter: Meter | None = None) -> None:
        self.path = path
        self.meter = meter
        self._side: _ClientSide | None = None

    async def connect(self, on_lost: Callable[[], None] | None = None) -> None:
        _, side = await asyncio.get_running_loop().create_unix_connection(lambda: _ClientSide(on_lost), str(self.path))
        self._side = side

    def close(self) -> None:
        if self._side is not None and self._side.transport is not None:
            self._side.transport.close()

    def stub(self, name: str) -> RemoteShardStub:
        return RemoteShardStub(self, name)

    def client(self, shard_count: int) -> JobsClient:
        return JobsClient(self.stub, shard_count)

    def notice(self, body: dict[str, Any]) -> None:
        self._connected().send(_line({"notice": body}))

    async def call(self, shard: str, method: str, payload: dict[str, JsonValue]) -> Any:
        return await self._connected().call(shard, method, payload)

    def _connected(self) -> _ClientSide:
        if self._side is None:
            raise ShardCallError("not connected to the Durable Object host (connect() first)")
        return self._side


class RemoteShardStub:
    def __init__(self, host: RemoteShardHost, name: str) -> None:
        self._host = host
        self._name = name

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        count(self._host.meter, DO_REQUESTS)
        check_rpc_value(payload, what=f"{method}() payload", max_bytes=RPC_MAX_BYTES, copy=False)
        return await self._host.call(self._name, method, payload)


class _ClientSide(_Lines):
    def __init__(self, on_lost: Callable[[], None] | None) -> None:
        super().__init__()
        self._on_lost = on_lost
        self._next = 0
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._lost = False

    async def call(self, shard: str, method: str, payload: dict[str, JsonValue]) -> Any:
        if self._lost:
            raise ShardCallError("the Durable Object host is gone")
        self._next += 1
        call_id = self._next
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self.send(_line({"id": call_id, "shard": shard, "method": method, "payload": payload}))
        try:
            return await future
        finally:
            self._pending.pop(call_id, None)

    def lines(self, lines: list[bytes]) -> None:
        for raw in lines:
            message = json.loads(raw)
            future = self._pending.get(message.get("id"))
            if future is None or future.done():
                continue  # the caller was canceled meanwhile
            if "raised" in message:
                future.set_exception(ShardCallError(str(message["raised"])))
            else:
                future.set_result(message.get("reply"))

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ShardCallError("the Durable Object host is gone"))
        if self._on_lost is not None:
            self._on_lost()
