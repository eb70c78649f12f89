"""The harness itself, proved on a throwaway Worker (fixtures/mini_worker).

Each test drives the fixture's Python in real Pyodide and checks the effect
where it lands: Miniflare's bucket and queues, or the Durable Object's SQLite.
"""

from __future__ import annotations

import pytest
from pyodide_harness import Harness, HarnessError

BUCKET = "mini-bucket"


def test_cold_start_timings_are_reported(harness: Harness, mini: str) -> None:
    timings = harness.call("timings")[mini]

    assert set(timings) >= {
        "loadPyodide_ms",
        "install_wheels_ms",
        "import_pydantic_ms",
        "import_workers_sdk_ms",
        "import_entry_ms",
        "total_ms",
    }
    assert all(value >= 0 for value in timings.values())


def test_runs_python_3_14_on_pyodide(harness: Harness, mini: str) -> None:
    probe = harness.run_python(mini, "import sys, pydantic\n[sys.platform, sys.version_info[:2], pydantic.VERSION]")

    assert probe == ["emscripten", [3, 14], "2.14.3"]


def test_vars_reach_the_worker_as_strings(harness: Harness, mini: str) -> None:
    response = harness.fetch(mini, "/hello")

    assert response.status == 200
    assert response.json() == {"greeting": "hello", "max": "3"}


def test_bytes_put_from_python_land_in_miniflare_r2(harness: Harness, mini: str) -> None:
    audio = bytes(range(256)) * 40

    response = harness.fetch(
        mini, "/blob/audio/a.wav", method="PUT", body=audio, headers={"content-type": "audio/wav"}
    )

    assert response.status == 200
    assert response.json()["size"] == len(audio)
    meta, stored = harness.r2_get(BUCKET, "audio/a.wav")
    assert stored == audio
    assert meta["httpMetadata"]["contentType"] == "audio/wav"
    assert meta["customMetadata"] == {"source": "fixture"}


def test_r2_body_streams_back_through_response(harness: Harness, mini: str) -> None:
    data = b"RIFF" + bytes(5000)
    harness.call(
        "r2_put",
        bucket=BUCKET,
        key="audio/b.wav",
        bodyBase64=__import__("base64").b64encode(data).decode(),
        httpMetadata={"contentType": "audio/wav"},
    )

    response = harness.fetch(mini, "/blob/audio/b.wav")

    assert response.status == 200
    assert response.body == data
    assert response.header("content-type") == "audio/wav"
    assert harness.fetch(mini, "/blob/audio/missing.wav").status == 404


def test_r2_list_returns_keys_under_prefix(harness: Harness, mini: str) -> None:
    for key in ("listing/1", "listing/2", "other/3"):
        harness.fetch(mini, f"/blob/{key}", method="PUT", body=b"x")

    response = harness.fetch(mini, "/list/listing/")

    assert response.json() == {"keys": ["listing/1", "listing/2"], "truncated": False}


def test_durable_object_rpc_keeps_state_in_sqlite(harness: Harness, mini: str) -> None:
    first = harness.fetch(mini, "/count/apples", method="POST", json_body={"by": 2, "note": "a"})
    second = harness.fetch(mini, "/count/apples", method="POST", json_body={"by": 3})

    assert first.json() == {"name": "apples", "n": 2}
    assert second.json() == {"name": "apples", "n": 5}
    rows = harness.call(
        "do_sql", worker=mini, binding="COUNTERS", name="apples", query="SELECT name, n, note FROM counts"
    )
    assert rows == [{"name": "apples", "n": 5, "note": None}]


def test_each_name_is_its_own_durable_object(harness: Harness, mini: str) -> None:
    harness.fetch(mini, "/count/pears", method="POST", json_body={"by": 1})

    rows = harness.call(
        "do_sql", worker=mini, binding="COUNTERS", name="plums", query="SELECT * FROM counts"
    )

    assert rows == []


def test_transaction_sync_rolls_back_when_python_raises(harness: Harness, mini: str) -> None:
    harness.fetch(mini, "/count/figs", method="POST", json_body={"by": 1})

    with pytest.raises(HarnessError, match="rolled back"):
        harness.call("do_call", worker=mini, binding="COUNTERS", name="figs", method="increment_then_fail", args=["figs"])

    assert harness.fetch(mini, "/count/figs").json()["n"] == 1


def test_python_exception_crosses_rpc_as_an_error(harness: Harness, mini: str) -> None:
    with pytest.raises(HarnessError, match="counter exploded") as caught:
        harness.call("do_call", worker=mini, binding="COUNTERS", name="x", method="fail")

    # A Python exception is a JS PythonError; cloned across RPC it is an Error.
    assert caught.value.name == "Error"


@pytest.mark.parametrize("method", ["_private", "no_such_method", "sql"])
def test_only_public_functions_are_rpc_methods(harness: Harness, mini: str, method: str) -> None:
    with pytest.raises(HarnessError, match="does not implement the method"):
        harness.call("do_call", worker=mini, binding="COUNTERS", name="x", method=method)


def test_rpc_arguments_arrive_as_python_values(harness: Harness, mini: str) -> None:
    echoed = harness.call(
        "do_call",
        worker=mini,
        binding="COUNTERS",
        name="x",
        method="echo",
        args=[{"a": [1, 2.5, None, True], "b": {"c": "d"}}],
    )

    assert echoed == {"type": "JsDict", "value": {"a": [1, 2.5, None, True], "b": {"c": "d"}}}


def test_rpc_refuses_tuples_like_cloudflare(harness: Harness, mini: str) -> None:
    error = harness.run_python(
        mini,
        """
from workers import env
stub = env.COUNTERS.get(env.COUNTERS.idFromName("x"))
try:
    await stub.echo((1, 2))
    outcome = None
except TypeError as exc:
    outcome = str(exc)
outcome
""",
    )

    assert "cannot be sent over RPC" in error


def test_sql_blob_round_trips_as_bytes(harness: Harness, mini: str) -> None:
    written = harness.call(
        "do_call", worker=mini, binding="COUNTERS", name="blobs", method="store_raw", args=["r", "00ff10"]
    )
    read = harness.call("do_call", worker=mini, binding="COUNTERS", name="blobs", method="read_raw", args=["r"])

    assert written == {"rowsWritten": 1}
    assert read["hex"] == "00ff10"


def test_sql_refuses_explicit_transactions(harness: Harness, mini: str) -> None:
    with pytest.raises(HarnessError, match="transactionSync"):
        harness.call("do_call", worker=mini, binding="COUNTERS", name="x", method="run_sql", args=["BEGIN"])


@pytest.mark.parametrize(
    "query",
    [
        "PRAGMA user_version",
        "PRAGMA journal_mode = WAL",
        "SELECT sqlite_version()",
        "CREATE TABLE _cf_secret (x)",
        "CREATE TEMP TABLE scratch (x)",
        "ATTACH DATABASE ':memory:' AS other",
    ],
)
def test_sql_refuses_what_workerd_refuses(harness: Harness, mini: str, query: str) -> None:
    with pytest.raises(HarnessError, match="not authorized"):
        harness.call("do_sql", worker=mini, binding="COUNTERS", name="x", query=query)


@pytest.mark.parametrize(
    "query",
    [
        "PRAGMA table_info(counts)",
        "PRAGMA foreign_keys = ON",
        "SELECT json_extract('{\"a\": 1}', '$.a') AS a, coalesce(NULL, 2) AS b, unixepoch() > 0 AS c",
        "ALTER TABLE counts ADD COLUMN extra TEXT",
    ],
)
def test_sql_allows_what_workerd_allows(harness: Harness, mini: str, query: str) -> None:
    harness.call("do_sql", worker=mini, binding="COUNTERS", name="sql-allowed", query=query)


def test_sql_binds_booleans_as_text_like_workerd(harness: Harness, mini: str) -> None:
    rows = harness.call(
        "do_sql", worker=mini, binding="COUNTERS", name="x", query="SELECT ? AS t, ? AS n", bindings=[True, 7]
    )

    assert rows == [{"t": "true", "n": 7}]


def test_queue_handler_acks_and_retries_each_message(harness: Harness, mini: str) -> None:
    outcome = harness.call(
        "queue",
        queue="mini-jobs",
        messages=[
            {"id": "m1", "body": {"job": "direct-1"}},
            {"id": "m2", "body": {"job": "direct-2", "fail_until_attempt": 1}},
        ],
    )

    assert outcome["error"] is None
    assert outcome["calls"] == [
        {"call": "ack", "id": "m1"},
        {"call": "retry", "id": "m2", "options": {"delaySeconds": 0}},
    ]
    assert harness.r2_get(BUCKET, "done/direct-1") is not None


def test_miniflare_redelivers_a_retried_message_with_attempts_2(harness: Harness, mini: str) -> None:
    since = harness.call("queue_log", min=0, timeoutMs=0)["next"]

    harness.fetch(mini, "/enqueue", method="POST", json_body={"job": "flaky", "fail_until_attempt": 1})
    log = harness.call("queue_log", since=since, min=2)

    first, second = log["entries"][:2]
    assert [m["attempts"] for m in first["messages"]] == [1]
    assert first["calls"][0]["call"] == "retry"
    assert [m["attempts"] for m in second["messages"]] == [2]
    assert second["calls"][0]["call"] == "ack"
    _, body = harness.r2_get(BUCKET, "done/flaky")
    assert body == b'{"attempts": 2}'


def test_exhausted_retries_reach_the_dead_letter_queue(harness: Harness, mini: str) -> None:
    since = harness.call("queue_log", min=0, timeoutMs=0)["next"]

    harness.call("queue_send", queue="mini-jobs", body={"job": "doomed", "fail_until_attempt": 99})
    log = harness.call("queue_log", since=since, min=3)

    assert [e["queue"] for e in log["entries"][:3]] == ["mini-jobs", "mini-jobs", "mini-jobs-dlq"]
    assert harness.r2_get(BUCKET, "dead/doomed") is not None


def test_scheduled_handler_receives_the_controller(harness: Harness, mini: str) -> None:
    outcome = harness.call("scheduled", worker=mini, cron="*/5 * * * *", scheduledTime=1_700_000_000_000)

    assert outcome["error"] is None
    _, body = harness.r2_get(BUCKET, "cron/1700000000000")
    assert body == b"*/5 * * * *"


def test_structured_logs_are_captured(harness: Harness, mini: str) -> None:
    since = harness.call("logs")["next"]

    harness.call("queue", queue="mini-jobs", messages=[{"id": "log-1", "body": {"job": "logged"}}])

    lines = [e["line"] for e in harness.call("logs", since=since, worker=mini)["entries"]]
    assert any('"messageId": "log-1"' in line for line in lines)


def test_outbound_network_is_blocked(harness: Harness, mini: str) -> None:
    outcome = harness.run_python(
        mini,
        """
from js import fetch
try:
    await fetch("https://example.com/")
    outcome = "fetched"
except Exception as exc:
    outcome = str(exc)
outcome
""",
    )

    assert "blocked" in outcome


def test_wasm_heap_size_is_reported(harness: Harness, mini: str) -> None:
    heap = harness.call("memory")[mini]

    assert heap > 1_000_000


def test_reset_empties_r2_and_durable_objects(harness: Harness, mini: str) -> None:
    harness.fetch(mini, "/blob/reset/x", method="PUT", body=b"x")
    harness.fetch(mini, "/count/reset", method="POST", json_body={"by": 4})

    harness.call("reset")

    assert harness.r2_get(BUCKET, "reset/x") is None
    assert harness.fetch(mini, "/count/reset").json() is None
    assert harness.fetch(mini, "/hello").status == 200
