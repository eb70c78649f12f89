"""The SQL port gives the same rows on both runtimes.

``cloudflare_adapters.durable_objects.DurableObjectSql`` (Pyodide, over
workerd's ``ctx.storage.sql`` rules) and ``local_runtime``'s ``SqliteSql``
(CPython's sqlite3) must store and return the same Python values, or the
job shard behaves differently in production than in every local test.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from pyodide_harness import Harness

from local_runtime.bindings.sql import SqliteSql

VALUES: list[Any] = [
    None,
    0,
    -1,
    2**31,
    2**53 - 1,  # the largest integer a JS number (a double) holds exactly
    -(2**53 - 1),
    1.5,
    "",
    "héllo 👋",
    True,  # stored as 1, as CPython's sqlite3 does (workerd alone would bind the TEXT 'true')
    False,
    b"\x00\x01\xff",  # a BLOB (workerd alone would bind the repr text)
    b"",
    # Past 2**53 a double rounds: both runtimes refuse rather than store another number.
    2**53 + 1,
    -(2**53 + 1),
]

PROBE = """
from _pyodide_harness import new_durable_object_storage
from cloudflare_adapters.durable_objects import DurableObjectSql
sql = DurableObjectSql(new_durable_object_storage())
sql.exec("CREATE TABLE t (v)")
try:
    sql.exec("INSERT INTO t (v) VALUES (?)", {value!r})
except Exception as exc:
    out = ["refused", type(exc).__name__]
else:
    [v] = [row["v"] for row in sql.exec("SELECT v FROM t")]
    out = ["bytes", bytes(v).hex()] if isinstance(v, (bytes, memoryview)) else ["value", v]
out
"""


@pytest.fixture(scope="module")
def sql_worker(mini: str) -> str:
    """A Worker whose interpreter has the adapters mounted: the fixture Worker."""
    return mini


def local_round_trip(value: Any) -> list[Any]:
    with tempfile.TemporaryDirectory() as tmp:
        sql = SqliteSql(Path(tmp) / "parity.sqlite")
        try:
            sql.exec("CREATE TABLE t (v)")
            try:
                sql.exec("INSERT INTO t (v) VALUES (?)", value)
            except Exception as exc:  # noqa: BLE001 - the outcome is compared
                return ["refused", type(exc).__name__]
            [v] = [row["v"] for row in sql.exec("SELECT v FROM t")]
        finally:
            sql.close()
    return ["bytes", bytes(v).hex()] if isinstance(v, (bytes, memoryview)) else ["value", v]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_value_round_trips_alike_on_both_runtimes(harness: Harness, sql_worker: str, value: Any) -> None:
    on_cloudflare = harness.run_python(sql_worker, PROBE.format(value=value))

    assert on_cloudflare == local_round_trip(value)
