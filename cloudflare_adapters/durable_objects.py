"""Durable Object adapters: ``ctx.storage.sql`` as a ``SqlPort``, stubs as ``ShardRpc``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cloudflare_adapters.convert import from_js_value, raw_binding, to_js_value
from pyodide.ffi import create_once_callable, jsnull  # type: ignore[import-not-found]
from shared.ports import JsonValue, Row

T = TypeVar("T")


class DurableObjectSql:
    """``shared.ports.SqlPort`` over ``ctx.storage`` (SQLite-backed Durable Object)."""

    def __init__(self, storage: Any) -> None:
        self._storage = raw_binding(storage)
        self._sql = self._storage.sql

    def exec(self, query: str, *params: Any) -> list[Row]:
        # None must travel as JS null: a Python None becomes `undefined`,
        # which the SQL API refuses as a binding.
        bound = [jsnull if p is None else p for p in params]
        cursor = self._sql.exec(query, *bound)
        rows = from_js_value(cursor.toArray()) or []
        return [dict(r) for r in rows]

    def transaction(self, fn: Callable[[], T]) -> T:
        box: list[T] = []

        def run() -> None:
            box.append(fn())

        self._storage.transactionSync(create_once_callable(run))
        return box[0]


class DurableObjectShardStub:
    """``shared.ports.ShardRpc`` over a ``TtsJobDurableObject`` stub (by name)."""

    def __init__(self, namespace: Any, name: str) -> None:
        ns = raw_binding(namespace)
        self._stub = ns.get(ns.idFromName(name))

    async def call(self, method: str, payload: dict[str, JsonValue]) -> Any:
        reply = await getattr(self._stub, method)(to_js_value(payload))
        return from_js_value(reply)


def shard_resolver(namespace: Any) -> Callable[[str], DurableObjectShardStub]:
    stubs: dict[str, DurableObjectShardStub] = {}

    def resolve(name: str) -> DurableObjectShardStub:
        if name not in stubs:
            stubs[name] = DurableObjectShardStub(namespace, name)
        return stubs[name]

    return resolve
