"""Durable Object adapters: ``ctx.storage.sql`` as a ``SqlPort``, its alarm as an ``Alarm``, stubs as ``ShardRpc``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from cloudflare_adapters.convert import bytes_to_js, from_js_value, raw_binding, to_js_value
from pyodide.ffi import create_once_callable, jsnull
from shared.errors import BoundaryError, StorageUnavailableError
from shared.ports import JsonValue, Row

T = TypeVar("T")

MAX_SAFE_INTEGER = 2**53 - 1
"""JS numbers are doubles: workerd binds and returns every number as one."""


def sql_binding(index: int, value: Any) -> Any:
    """One Python parameter -> the JS value workerd stores as local SQLite would.

    workerd converts each binding to ``null | ArrayBuffer(view) | string |
    double`` (Web IDL), so without help ``True`` is bound as the TEXT
    ``'true'`` and ``bytes`` as their repr text. Here bool becomes 0/1,
    bytes a ``Uint8Array`` (a BLOB), and ``None`` JS ``null`` (``undefined``
    would be bound as NULL as well; ``null`` says what is meant). An integer
    a double cannot hold exactly is refused rather than silently rounded.
    """
    if value is None:
        return jsnull
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise BoundaryError(
                f"SQL parameter {index} is {value}: integers beyond +-(2**53 - 1) do not survive"
                " ctx.storage.sql (JS numbers are doubles); store it as TEXT"
            )
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes_to_js(bytes(value))
    return value


_FULL_STORAGE = ("SQLITE_FULL", "database or disk is full", "maximum database size", "maximum DB size")


def storage_error(exc: Exception) -> StorageUnavailableError | None:
    """A Durable Object whose SQLite reached its size limit, as the core's typed error."""
    text = str(exc)
    if any(marker.lower() in text.lower() for marker in _FULL_STORAGE):
        return StorageUnavailableError("disk_full", text[:300])
    return None


class DurableObjectSql:
    """``shared.ports.SqlPort`` over ``ctx.storage`` (SQLite-backed Durable Object)."""

    def __init__(self, storage: Any) -> None:
        self._storage = raw_binding(storage)
        self._sql = self._storage.sql

    def exec(self, query: str, *params: Any) -> list[Row]:
        bound = [sql_binding(i, p) for i, p in enumerate(params, start=1)]
        try:
            cursor = self._sql.exec(query, *bound)
            rows = from_js_value(cursor.toArray()) or []
        except Exception as exc:
            full = storage_error(exc)
            if full is None:
                raise
            raise full from exc
        return [dict(r) for r in rows]

    def transaction(self, fn: Callable[[], T]) -> T:
        box: list[T] = []

        def run() -> None:
            box.append(fn())

        self._storage.transactionSync(create_once_callable(run))
        return box[0]


class DurableObjectAlarm:
    """``shared.jobs.outbox.Alarm`` over ``ctx.storage.setAlarm``: durable, one per object;
    the object's ``alarm()`` handler runs at the time set (retried by Cloudflare if it raises)."""

    def __init__(self, storage: Any) -> None:
        self._storage = raw_binding(storage)

    async def set(self, at: float) -> None:
        await self._storage.setAlarm(int(at * 1000))


class DurableObjectShardStub:
    """``shared.ports.ShardRpc`` over a ``TtsJobDurableObject`` stub (by name)."""

    def __init__(self, namespace: Any, name: str) -> None:
        ns = raw_binding(namespace)
        self._stub = ns.get(ns.idFromName(name))

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        reply = await getattr(self._stub, method)(to_js_value(payload))
        return from_js_value(reply)


def shard_resolver(namespace: Any) -> Callable[[str], DurableObjectShardStub]:
    """A new stub for every call, never a cached one.

    workerd ties a stub to the request that made it: a stub kept from an
    earlier request (the api caches its app for the isolate's life) fails
    with "Cannot perform I/O on behalf of a different request". Making one
    is cheap (``idFromName`` hashes the name; no I/O until a method runs).
    """

    def resolve(name: str) -> DurableObjectShardStub:
        return DurableObjectShardStub(namespace, name)

    return resolve


def add_rpc_methods(cls: type[T], names: Iterable[str]) -> type[T]:
    """Give a Durable Object class one ``async def <name>(self, payload)`` RPC method per name.

    Each awaits ``self._handle(name, payload)``. Run when the entry module
    is imported (a static table, no I/O: fine in the deploy snapshot), so the
    methods are plain functions in the class ``__dict__``: workerd's Python
    entrypoint helper lists a class's RPC methods as its public attributes
    that are functions (``collect_methods``), which these are.
    """
    for name in names:
        if name.startswith("_") or name in cls.__dict__:
            raise ValueError(f"{cls.__name__}.{name} cannot be an RPC method")
        setattr(cls, name, _forwarder(name))
    return cls


def _forwarder(name: str) -> Callable[[Any, Any], Awaitable[Any]]:
    async def method(self: Any, payload: Any) -> Any:
        return await self._handle(name, payload)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"RPC ``{name}`` (shared/jobs/rpc_payloads.py OPERATIONS)."
    return method
