"""SQLite and file-system failures that mean "storage cannot serve this now", as ``StorageUnavailableError``.

A full disk, a database another process holds locked past the busy timeout,
an I/O error or a read-only file system are conditions of the machine, not
bugs: the API answers them 507 / 503 with ``Retry-After`` (shared/api/app.py)
and the runtime's loops retry them with backoff until they clear. Every
binding's entry points run under ``storage_errors`` so these arrive in
``shared/`` as one typed error, never as ``sqlite3`` or ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import inspect
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from shared.errors import StorageUnavailableError

F = TypeVar("F", bound=Callable[..., Any])

_SQLITE_CONDITIONS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_BUSY": "locked",
    "SQLITE_LOCKED": "locked",
    "SQLITE_IOERR": "io_error",
    "SQLITE_READONLY": "read_only",
    "SQLITE_CANTOPEN": "io_error",
}
_MESSAGE_CONDITIONS = (
    ("database or disk is full", "disk_full"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("disk i/o error", "io_error"),
    ("readonly database", "read_only"),
    ("unable to open database file", "io_error"),
)
_ERRNO_CONDITIONS = {
    errno.ENOSPC: "disk_full",
    errno.EDQUOT: "disk_full",
    errno.EFBIG: "disk_full",
    errno.EIO: "io_error",
    errno.EROFS: "read_only",
}


def condition_of(exc: BaseException) -> str | None:
    """The storage condition ``exc`` reports, or None when it is not one."""
    if isinstance(exc, StorageUnavailableError):
        return exc.condition
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        name = str(getattr(exc, "sqlite_errorname", "") or "")
        for prefix, condition in _SQLITE_CONDITIONS.items():
            if name == prefix or name.startswith(prefix + "_"):
                return condition
        text = str(exc).lower()
        return next((c for fragment, c in _MESSAGE_CONDITIONS if fragment in text), None)
    if isinstance(exc, OSError) and exc.errno in _ERRNO_CONDITIONS:
        return _ERRNO_CONDITIONS[exc.errno]
    return None


def as_storage_error(exc: BaseException) -> BaseException:
    """``exc`` as a ``StorageUnavailableError`` when it is a storage condition, else ``exc`` itself."""
    condition = condition_of(exc)
    if condition is None or isinstance(exc, StorageUnavailableError):
        return exc
    return StorageUnavailableError(condition, str(exc)[:300])


@contextlib.contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise a storage condition inside the block as ``StorageUnavailableError``."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        translated = _translated(exc)
        if translated is None:
            raise
        raise translated from exc


def _translated(exc: sqlite3.Error | OSError) -> BaseException | None:
    """What ``storage_errors`` raises in place of ``exc``, or None to re-raise ``exc`` itself."""
    translated = as_storage_error(exc)
    return None if translated is exc else translated


def guarded(fn: F) -> F:
    """``storage_errors`` around a binding method, sync or async.

    Written as a plain ``try`` rather than ``with storage_errors()``: a binding call is
    on every request's path, and the context manager's generator costs more than the call."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                translated = _translated(exc)
                if translated is None:
                    raise
                raise translated from exc

        return run_async  # type: ignore[return-value]  # functools.wraps: the same signature as fn, which F is

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            translated = _translated(exc)
            if translated is None:
                raise
            raise translated from exc

    return run  # type: ignore[return-value]  # functools.wraps: the same signature as fn, which F is


def rollback_quietly(conn: sqlite3.Connection) -> None:
    """End a transaction whose COMMIT failed (a full disk): left open, every later BEGIN would fail."""
    with contextlib.suppress(sqlite3.Error):
        if conn.in_transaction:
            conn.execute("ROLLBACK")
