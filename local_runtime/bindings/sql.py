"""A Durable Object's ``ctx.storage.sql`` on local SQLite.

Cloudflare's SQLite-backed Durable Objects run real SQLite, so the local
stand-in is SQLite too: one database file per object instance, WAL mode,
autocommit per statement outside ``transaction``. It enforces Cloudflare's
documented limits (``DO_SQL_*`` in shared/platform_limits.py: 100 bound
parameters, 100 KB statements, 2 MB strings, BLOBs and rows) so that code passing here does not fail in production, and
counts rows read and written on a ``Meter`` for cost figures. A query text's
checks (size, statements, no transaction control) are made once and
remembered for short texts; bound values are checked on every call.

Durability: WAL with ``synchronous=NORMAL`` survives a killed process
(kill -9); a power cut may lose the last few commits.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import BoundaryError, LimitExceededError
from shared.platform_limits import DO_SQL_MAX_BOUND_PARAMETERS, DO_SQL_MAX_ROW_BYTES, DO_SQL_MAX_STATEMENT_BYTES
from shared.ports import Row

from local_runtime.private_files import private_file

from .meter import DO_ROWS_READ, DO_ROWS_WRITTEN, Meter, count
from .storage_errors import guarded, rollback_quietly

T = TypeVar("T")

MAX_SAFE_INTEGER = 2**53 - 1  # JS numbers are doubles: workerd binds every number as one

_TX_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)


def _split_statements(query: str) -> list[str]:
    """Split SQL text into complete statements (``;`` inside strings or triggers kept)."""
    if ";" not in query:  # nearly every call: one statement, no need to walk it
        return [query] if query.strip() else []
    parts: list[str] = []
    start = 0
    for index, char in enumerate(query):
        if char == ";" and sqlite3.complete_statement(query[start : index + 1]):
            parts.append(query[start : index + 1])
            start = index + 1
    parts.append(query[start:])
    return [part for part in parts if part.strip() and part.strip() != ";"]


def _parse(query: str) -> tuple[str, ...]:
    """The statements of ``query``, checked: size, and no transaction control.
    Raises ``LimitExceededError`` or ``ValueError``."""
    if 4 * len(query) > DO_SQL_MAX_STATEMENT_BYTES:  # a character is at most 4 bytes: encode only when it may be over
        size = len(query.encode("utf-8", "surrogatepass"))
        if size > DO_SQL_MAX_STATEMENT_BYTES:
            raise LimitExceededError(
                f"SQL statement is {size} bytes, over the limit of {DO_SQL_MAX_STATEMENT_BYTES}"
            )
    statements = _split_statements(query)
    for statement in statements:
        if _TX_CONTROL.match(statement):
            raise ValueError(
                "transaction control statements are not allowed in exec(); use transaction()"
            )
    return tuple(statements)


_PARSED_MAX_QUERIES = 512
_PARSED_MAX_CHARS = 4_096
_parsed: dict[str, tuple[str, ...]] = {}


def _statements(query: str) -> tuple[str, ...]:
    """``_parse(query)``, remembered for short queries: code runs the same few texts over and over
    (a refused query is never remembered, so it is refused every time)."""
    statements = _parsed.get(query)
    if statements is None:
        statements = _parse(query)
        if len(query) <= _PARSED_MAX_CHARS:
            if len(_parsed) >= _PARSED_MAX_QUERIES:
                _parsed.clear()
            _parsed[query] = statements
    return statements


_STR_FAST_CHARS = DO_SQL_MAX_ROW_BYTES // 4  # a str this short is under the limit whatever it holds


def _check_params(params: tuple[Any, ...]) -> None:
    if len(params) > DO_SQL_MAX_BOUND_PARAMETERS:
        raise LimitExceededError(
            f"SQL query has {len(params)} bound parameters, over the limit of {DO_SQL_MAX_BOUND_PARAMETERS}"
        )
    for index, value in enumerate(params, start=1):
        kind = type(value)
        # The common values, decided without encoding or a call (exact types only).
        if kind is int:
            if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
                continue
        elif kind is str:
            if len(value) <= _STR_FAST_CHARS:
                continue
        elif kind is float or value is None:
            continue
        _check_param(index, value)


def _check_param(index: int, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
        # What Cloudflare's adapter refuses (cloudflare_adapters.durable_objects).
        raise BoundaryError(
            f"SQL parameter {index} is {value}: integers beyond +-(2**53 - 1) do not survive"
            " ctx.storage.sql (JS numbers are doubles); store it as TEXT"
        )
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))
    elif isinstance(value, (bytes, bytearray, memoryview)):
        size = len(value)
    else:
        return
    if size > DO_SQL_MAX_ROW_BYTES:
        raise LimitExceededError(
            f"SQL parameter {index} is {size} bytes, over the limit of {DO_SQL_MAX_ROW_BYTES}"
        )


class SqliteSql:
    """``SqlPort`` over one SQLite file: the storage of one Durable Object instance.

    Safe to share between threads (one lock guards the connection), though
    the local runtime normally calls it from a single asyncio thread.
    """

    def __init__(self, path: str | Path, meter: Meter | None = None) -> None:
        self.path = Path(path)
        private_file(self.path)  # 0600 before SQLite opens it (its -wal and -shm take the same mode)
        self._meter = meter
        self._lock = threading.RLock()
        self._depth = 0
        self._conn = sqlite3.connect(
            str(self.path), isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        # SQLite itself then refuses values and rows built inside SQL (x || y, zeroblob).
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, DO_SQL_MAX_ROW_BYTES)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, DO_SQL_MAX_STATEMENT_BYTES)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, DO_SQL_MAX_BOUND_PARAMETERS)

    @guarded
    def exec(self, query: str, *params: Any) -> list[Row]:
        """Run ``query`` (one or more ``;``-separated statements) and return the rows
        of the last one as dicts. Parameters are only allowed with a single statement.
        Raises ``LimitExceededError`` past Cloudflare's limits and ``ValueError`` for
        transaction control statements (use ``transaction`` instead, as on Cloudflare).
        """
        statements = _statements(query)
        _check_params(params)
        if len(statements) > 1 and params:
            raise ValueError("bound parameters are only allowed with a single SQL statement")
        with self._lock:
            before = self._conn.total_changes
            rows: list[Row] = []
            read = 0
            try:
                for statement in statements or (query,):
                    cursor = self._conn.execute(statement, params)
                    if cursor.description is None:
                        rows = []
                        continue
                    names = [column[0] for column in cursor.description]
                    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
                    read += len(rows)
            except sqlite3.DataError as exc:
                if "too big" in str(exc):
                    raise LimitExceededError(
                        f"SQL value or row over the limit of {DO_SQL_MAX_ROW_BYTES} bytes: {exc}"
                    ) from exc
                raise
            except sqlite3.OperationalError as exc:
                if "variable" in str(exc):
                    raise LimitExceededError(
                        f"SQL query over the limit of {DO_SQL_MAX_BOUND_PARAMETERS} bound parameters: {exc}"
                    ) from exc
                raise
            finally:
                count(self._meter, DO_ROWS_READ, read)
                count(self._meter, DO_ROWS_WRITTEN, self._conn.total_changes - before)
            return rows

    @guarded
    def transaction(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` atomically: BEGIN IMMEDIATE, COMMIT, or ROLLBACK if it (or the COMMIT) raises.

        A nested call runs ``fn`` inside a savepoint: if it raises, only its own
        writes are undone and the exception propagates to the outer ``fn``.
        """
        with self._lock:
            if self._depth:
                name = f"sp{self._depth}"
                self._conn.execute(f"SAVEPOINT {name}")
                self._depth += 1
                try:
                    result = fn()
                except BaseException:
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                    raise
                finally:
                    self._depth -= 1
                self._conn.execute(f"RELEASE {name}")
                return result
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                result = fn()
            except BaseException:
                rollback_quietly(self._conn)
                raise
            finally:
                self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)  # a full disk: nothing was written, and the next BEGIN works
                raise
            return result

    def close(self) -> None:
        """Close the database (later calls fail)."""
        with self._lock:
            self._conn.close()


class SqliteDurableObjectNamespace:
    """Durable Object storage for every instance of one class, by instance name.

    Each name gets its own file ``<data_dir>/do/<class_name>/<name>.sqlite``
    (the name percent-encoded, so any name maps to one safe file name and
    back), opened once and cached: like Cloudflare, one name is one object.
    """

    def __init__(
        self,
        data_dir: str | Path,
        meter: Meter | None = None,
        *,
        class_name: str = "TtsJobDurableObject",
    ) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", class_name):
            raise ValueError(f"class name {class_name!r} must be letters, digits or _")
        self.directory = Path(data_dir) / "do" / class_name
        self._meter = meter
        self._lock = threading.Lock()
        self._open: dict[str, SqliteSql] = {}

    def path_for(self, name: str) -> Path:
        """The database file of instance ``name``."""
        if not name:
            raise ValueError("a Durable Object name must not be empty")
        encoded = urllib.parse.quote(name, safe="-_.")
        if len(encoded) > 200:
            raise ValueError(f"Durable Object name too long for a file name: {name[:40]!r}...")
        return self.directory / f"{encoded}.sqlite"

    def get(self, name: str) -> SqliteSql:
        """The storage of instance ``name``, created on first use."""
        with self._lock:
            sql = self._open.get(name)
            if sql is None:
                sql = SqliteSql(self.path_for(name), self._meter)
                self._open[name] = sql
            return sql

    def names(self) -> list[str]:
        """Names of every instance that has storage on disk, sorted."""
        if not self.directory.is_dir():
            return []
        return sorted(
            urllib.parse.unquote(path.name[: -len(".sqlite")])
            for path in self.directory.glob("*.sqlite")
        )

    def close(self) -> None:
        """Close every open instance."""
        with self._lock:
            for sql in self._open.values():
                sql.close()
            self._open.clear()
