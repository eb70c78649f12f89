"""Durable Object SQL on SQLite (local_runtime.bindings.sql)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.sql import SqliteDurableObjectNamespace, SqliteSql
from shared.errors import LimitExceededError


@pytest.fixture
def sql(tmp_path: Path) -> SqliteSql:
    db = SqliteSql(tmp_path / "do.sqlite", Meter())
    db.exec("CREATE TABLE jobs (id TEXT PRIMARY KEY, status TEXT, data BLOB)")
    return db


def test_rows_come_back_as_dicts(sql: SqliteSql) -> None:
    sql.exec("INSERT INTO jobs (id, status) VALUES (?, ?), (?, ?)", "a", "queued", "b", "done")
    rows = sql.exec("SELECT id, status FROM jobs ORDER BY id")
    assert rows == [{"id": "a", "status": "queued"}, {"id": "b", "status": "done"}]
    assert sql.exec("UPDATE jobs SET status = 'x' WHERE id = 'zz'") == []


def test_uses_wal(sql: SqliteSql) -> None:
    assert sql.exec("PRAGMA journal_mode") == [{"journal_mode": "wal"}]


def test_multiple_statements_run_and_return_the_last_rows(sql: SqliteSql) -> None:
    rows = sql.exec(
        "CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);"
        "INSERT INTO jobs (id, status) VALUES ('a;b', 'q');"
        "SELECT id FROM jobs;"
    )
    assert rows == [{"id": "a;b"}]
    with pytest.raises(ValueError, match="single SQL statement"):
        sql.exec("SELECT ?; SELECT ?", 1)


def test_transaction_commits_and_rolls_back(sql: SqliteSql) -> None:
    def ok() -> str:
        sql.exec("INSERT INTO jobs (id) VALUES ('a')")
        return "done"

    assert sql.transaction(ok) == "done"

    def boom() -> None:
        sql.exec("INSERT INTO jobs (id) VALUES ('b')")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        sql.transaction(boom)
    assert [row["id"] for row in sql.exec("SELECT id FROM jobs")] == ["a"]


def test_nested_transaction_undoes_only_its_own_writes(sql: SqliteSql) -> None:
    def inner() -> None:
        sql.exec("INSERT INTO jobs (id) VALUES ('inner')")
        raise KeyError("inner")

    def outer() -> None:
        sql.exec("INSERT INTO jobs (id) VALUES ('outer')")
        with pytest.raises(KeyError):
            sql.transaction(inner)
        assert sql.transaction(lambda: sql.exec("SELECT count(*) AS n FROM jobs")) == [{"n": 1}]

    sql.transaction(outer)
    assert sql.exec("SELECT id FROM jobs") == [{"id": "outer"}]


def test_transaction_control_in_exec_is_refused(sql: SqliteSql) -> None:
    for statement in ("BEGIN", "commit", "  ROLLBACK", "SAVEPOINT x", "SELECT 1; COMMIT"):
        for _ in range(2):  # checked query texts are remembered; refused ones are refused every time
            with pytest.raises(ValueError, match="transaction"):
                sql.exec(statement)


def test_more_than_100_parameters_is_refused(sql: SqliteSql) -> None:
    assert sql.exec("SELECT " + ", ".join("?" for _ in range(100)), *range(100))
    with pytest.raises(LimitExceededError, match="101 bound parameters, over the limit of 100"):
        sql.exec("SELECT " + ", ".join("?" for _ in range(101)), *range(101))
    with pytest.raises(LimitExceededError, match="bound parameters"):
        sql.exec("SELECT ?101", 1)


def test_statement_over_100_kb_is_refused(sql: SqliteSql) -> None:
    text = "SELECT '" + "x" * 99_000 + "' AS v"
    assert len(sql.exec(text)[0]["v"]) == 99_000
    with pytest.raises(LimitExceededError, match="over the limit of 100000"):
        sql.exec("SELECT '" + "x" * 100_000 + "'")


def test_values_over_2_mb_are_refused_when_bound_or_built(sql: SqliteSql) -> None:
    sql.exec("INSERT INTO jobs (id, data) VALUES ('a', ?)", b"x" * 1_900_000)
    with pytest.raises(LimitExceededError, match="parameter 2 is 2000001 bytes"):
        sql.exec("INSERT INTO jobs (id, status) VALUES (?, ?)", "b", "é" * 1_000_000 + "x")
    with pytest.raises(LimitExceededError, match="parameter 1 is 2000004 bytes"):  # 4 bytes a character
        sql.exec("SELECT ?", "😀" * 500_001)
    with pytest.raises(LimitExceededError, match="statement is 100001 bytes"):
        sql.exec("SELECT '" + "é" * 49_996 + "'")
    with pytest.raises(LimitExceededError, match="2000000 bytes"):
        sql.exec("UPDATE jobs SET data = data || data WHERE id = 'a'")
    with pytest.raises(LimitExceededError):  # a row of two 1.5 MB values is over 2 MB too
        sql.exec("INSERT INTO jobs (id, status, data) VALUES ('c', ?, ?)", "s" * 1_500_000, b"d" * 1_500_000)
    assert len(sql.exec("SELECT data FROM jobs WHERE id = 'a'")[0]["data"]) == 1_900_000


def test_rows_read_and_written_are_metered(tmp_path: Path) -> None:
    meter = Meter()
    sql = SqliteSql(tmp_path / "m.sqlite", meter)
    sql.exec("CREATE TABLE t (v INTEGER)")
    meter.reset()
    sql.exec("INSERT INTO t VALUES (1), (2), (3)")
    sql.exec("SELECT * FROM t")
    sql.exec("UPDATE t SET v = v + 1 WHERE v > 1")
    sql.exec("DELETE FROM t WHERE v = 1")
    assert meter.snapshot() == {"do.rows_read": 3, "do.rows_written": 6}


def test_data_survives_reopen(tmp_path: Path) -> None:
    first = SqliteSql(tmp_path / "d.sqlite")
    first.exec("CREATE TABLE t (v TEXT)")
    first.transaction(lambda: first.exec("INSERT INTO t VALUES ('kept')"))
    first.close()
    assert SqliteSql(tmp_path / "d.sqlite").exec("SELECT v FROM t") == [{"v": "kept"}]


def test_namespace_gives_one_database_per_name(tmp_path: Path) -> None:
    namespace = SqliteDurableObjectNamespace(tmp_path, Meter(), class_name="Jobs")
    a = namespace.get("shard-0")
    assert namespace.get("shard-0") is a
    odd = namespace.get("../../etc/passwd x")
    a.exec("CREATE TABLE t (v)")
    assert odd.exec("SELECT name FROM sqlite_master") == []
    assert odd.path.parent == tmp_path / "do" / "Jobs"
    assert (tmp_path / "do" / "Jobs" / "shard-0.sqlite").exists()
    assert namespace.names() == ["../../etc/passwd x", "shard-0"]
    namespace.close()
    again = SqliteDurableObjectNamespace(tmp_path, class_name="Jobs")
    assert again.get("shard-0").exec("SELECT name FROM sqlite_master") == [{"name": "t"}]
    with pytest.raises(ValueError):
        again.get("")


def test_sql_can_be_used_from_another_thread(sql: SqliteSql) -> None:
    def work(prefix: str) -> None:
        for i in range(50):
            sql.exec("INSERT INTO jobs (id) VALUES (?)", f"{prefix}{i}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(work, prefix) for prefix in ("a", "b")]
        work("main")
        for future in futures:
            future.result()  # re-raises anything the thread raised
    assert sql.exec("SELECT count(*) AS n FROM jobs") == [{"n": 150}]
