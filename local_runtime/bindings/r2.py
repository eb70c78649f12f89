"""An R2 bucket on local files, indexed in SQLite.

Object bytes live in files under ``<root>/objects`` and everything else
(size, etag, upload time, metadata, which file) in ``<root>/index.sqlite``.
The index is the only source of truth for what exists, and a row is written
only after its file is complete and durable: a ``put`` writes the bytes to a
new file of a fresh random name, fsyncs it and then its directory (the name
is durable too), and only then commits the row; a file no row names is
nobody's object, so no temp file and rename are needed (each would cost the
file system a journal commit more). A process killed at any point therefore
never exposes a half-written object; it may leave a stray file, which
``sweep_orphans`` removes once it is older than a grace period (the grace
keeps it from deleting a file another process is about to index).

Limits enforced as on R2: keys 1..1,024 bytes; http plus custom metadata at
most 8,192 bytes; ``list`` at most 1,000 keys a call; ``delete`` at most
1,000 keys a call; multipart uploads as ``r2_multipart`` says (part sizes,
part count, ETags, the part list of ``complete``).

Multipart: each part is a file under ``<root>/parts`` indexed in the
``parts`` table; ``complete`` copies the named parts, in order, into one new
object file (streamed, never whole in memory) and indexes it like a ``put``.
Uploads keep their state (in progress, completed, aborted) so a late
``upload_part`` gets ``NoSuchUploadError`` as on R2; finished ones are
forgotten after a week.
"""

from __future__ import annotations

import asyncio
import base64
import builtins  # the class has a method named list
import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.errors import LimitExceededError, NoSuchUploadError
from shared.platform_limits import R2_MAX_KEY_BYTES, R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST, R2_MAX_METADATA_BYTES
from shared.ports import BlobInfo, ByteRange, Clock, ListPage, MultipartUpload, UploadedPart

from local_runtime import limits
from local_runtime.private_files import open_private, private_dir, private_file

from .meter import R2_CLASS_A, R2_CLASS_B, R2_DELETE, Meter, count
from .r2_body import LocalBlobBody, LocalBlobHandle
from .r2_multipart import check_completion, check_part, multipart_etag, part_etag
from .storage_errors import guarded, rollback_quietly

__all__ = ["LocalBlobBody", "LocalBlobHandle", "LocalBucket"]

_COLUMNS = "key, size, etag, uploaded, content_type, custom_metadata, file"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    key TEXT PRIMARY KEY, size INTEGER NOT NULL, etag TEXT NOT NULL, uploaded REAL NOT NULL,
    content_type TEXT, custom_metadata TEXT NOT NULL, file TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY, key TEXT NOT NULL, content_type TEXT, custom_metadata TEXT NOT NULL,
    created REAL NOT NULL, state INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
    file TEXT NOT NULL, PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
"""
IN_PROGRESS, COMPLETED, ABORTED = 0, 1, 2
FINISHED_UPLOAD_MEMORY_SECONDS = 7 * 86_400


def _check_key(key: str) -> None:
    if not isinstance(key, str):
        raise TypeError(f"R2 key must be a str, got {type(key).__name__}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(f"R2 key {key!r} is not valid UTF-8") from exc
    if not 1 <= size <= R2_MAX_KEY_BYTES:
        raise LimitExceededError(f"R2 key is {size} bytes; it must be 1..{R2_MAX_KEY_BYTES} bytes")


def _metadata_size(content_type: str, custom: Mapping[str, str]) -> int:
    """Bytes of metadata as counted here: the content type, custom keys and values."""
    total = len(content_type.encode("utf-8"))
    for name, value in custom.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"R2 custom metadata must map str to str, got {name!r}: {value!r}")
        total += len(name.encode("utf-8")) + len(value.encode("utf-8"))
    return total


@contextlib.contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    """A file being written is removed if the write fails (a full disk keeps no half file)."""
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode_cursor(key: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": key}).encode()).decode()


def _decode_cursor(cursor: str) -> str:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))["after"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid R2 list cursor {cursor!r}") from exc
    if isinstance(value, str):
        return value
    raise ValueError(f"invalid R2 list cursor {cursor!r}")


class LocalBucket:
    """``shared.ports.BlobStore`` over ``root_dir``; safe across threads and processes."""

    def __init__(
        self,
        root_dir: str | Path,
        meter: Meter | None = None,
        clock: Clock = time.time,
        *,
        orphan_grace_seconds: float = 300.0,
    ) -> None:
        self.root = Path(root_dir)
        self.objects_dir = self.root / "objects"
        private_dir(self.objects_dir)
        self.parts_dir = self.root / "parts"
        private_dir(self.parts_dir)
        self._meter = meter
        self._clock = clock
        self._lock = threading.RLock()
        self._made_dirs: set[str] = set()
        self._conn = sqlite3.connect(
            str(private_file(self.root / "index.sqlite")),
            isolation_level=None,
            check_same_thread=False,
            timeout=10.0,
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)
        self.sweep_orphans(orphan_grace_seconds)

    # --- the R2 binding surface --------------------------------------------

    @guarded
    async def put(
        self, key: str, data: bytes | bytearray, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> BlobInfo:
        """Store ``data`` under ``key`` atomically, replacing any previous object."""
        limits.subrequest()
        _check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"R2 object data must be bytes, got {type(data).__name__}")
        limits.payload(len(data))
        custom = dict(custom_metadata)
        size = _metadata_size(content_type, custom)
        if size > R2_MAX_METADATA_BYTES:
            raise LimitExceededError(
                f"R2 metadata for {key!r} is {size} bytes, over the limit of {R2_MAX_METADATA_BYTES}"
            )
        count(self._meter, R2_CLASS_A)
        return await asyncio.to_thread(self._put_sync, key, bytes(data), content_type, custom)

    def _put_sync(self, key: str, data: bytes, content_type: str, custom: dict[str, str]) -> BlobInfo:
        name = uuid.uuid4().hex
        directory = self._object_dir(name[:2])
        final = directory / name
        with _removed_on_failure(final):
            with os.fdopen(open_private(final), "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            _fsync_dir(directory)  # the new name durable before a row names it
        info = BlobInfo(key, len(data), hashlib.md5(data).hexdigest(), self._clock(), content_type, custom)
        self._index(info, f"{name[:2]}/{name}")
        return info

    def _object_dir(self, shard: str) -> Path:
        """``objects/<shard>``, created (private) on first use."""
        directory = self.objects_dir / shard
        if shard not in self._made_dirs:
            private_dir(directory)
            self._made_dirs.add(shard)
        return directory

    def _index(self, info: BlobInfo, file: str, also: Any = None) -> None:
        """Commit the row of a complete object file (replacing the key's old one); ``also(conn)`` joins the transaction."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if also is not None:
                    also(self._conn)
                old = self._conn.execute("SELECT file FROM objects WHERE key = ?", (info.key,)).fetchone()
                self._conn.execute(
                    f"INSERT OR REPLACE INTO objects ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (info.key, info.size, info.etag, info.uploaded, info.content_type,
                     json.dumps(info.custom_metadata), file),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                (self.objects_dir / file).unlink(missing_ok=True)
                raise
        if old is not None:
            (self.objects_dir / old[0]).unlink(missing_ok=True)

    @guarded
    async def head(self, key: str) -> BlobInfo | None:
        """The object's metadata, or None."""
        limits.subrequest()
        _check_key(key)
        count(self._meter, R2_CLASS_B)
        row = self._row(key)
        return None if row is None else row[0]

    @guarded
    async def get(self, key: str, byte_range: ByteRange | None = None) -> LocalBlobBody | None:
        """The object (or ``byte_range`` of it), or None. A range running past the
        end is cut at the end; one starting past the end raises ``ValueError``."""
        limits.subrequest()
        _check_key(key)
        count(self._meter, R2_CLASS_B)
        for _ in range(5):  # another process may replace or delete it between index and open
            with self._lock:
                row = self._row(key)
                if row is None:
                    return None
                info, path = row
                try:
                    fd = os.open(path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
            offset, length = 0, info.size
            if byte_range is not None:
                if byte_range.offset < 0 or byte_range.length < 0 or byte_range.offset > info.size:
                    os.close(fd)
                    raise ValueError(f"range {byte_range} is outside object {key!r} of {info.size} bytes")
                offset = byte_range.offset
                length = min(byte_range.length, info.size - offset)
                byte_range = ByteRange(offset, length)
            return LocalBlobBody(info, byte_range, LocalBlobHandle(path, offset, length, fd))
        raise OSError(f"R2 object {key!r} keeps changing under the reader")

    @guarded
    async def delete(self, keys: Sequence[str]) -> None:
        """Delete up to ``R2_MAX_KEYS_PER_DELETE`` keys (a single str is one key); missing keys are fine."""
        limits.subrequest()
        batch = [keys] if isinstance(keys, str) else list(keys)
        if len(batch) > R2_MAX_KEYS_PER_DELETE:
            raise LimitExceededError(
                f"R2 delete of {len(batch)} keys, over the limit of {R2_MAX_KEYS_PER_DELETE} a call"
            )
        for key in batch:
            _check_key(key)
        count(self._meter, R2_DELETE)
        files: list[str] = []
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for key in batch:
                    row = self._conn.execute("SELECT file FROM objects WHERE key = ?", (key,)).fetchone()
                    if row is not None:
                        files.append(row[0])
                        self._conn.execute("DELETE FROM objects WHERE key = ?", (key,))
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                raise
        if files:
            # The index no longer names them (nobody can read them); the unlinks, slow on a
            # busy disk, run off the event loop so requests are served meanwhile.
            await asyncio.to_thread(self._unlink, files)

    def _unlink(self, files: list[str]) -> None:
        for name in files:
            (self.objects_dir / name).unlink(missing_ok=True)

    @guarded
    async def list(
        self,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = R2_MAX_KEYS_PER_LIST,
        start_after: str | None = None,
    ) -> ListPage:
        """Up to ``limit`` objects in key order (UTF-8 byte order, as R2), after
        ``start_after`` and after the last key of the page ``cursor`` came from."""
        limits.subrequest()
        if not 1 <= limit <= R2_MAX_KEYS_PER_LIST:
            raise LimitExceededError(f"R2 list limit {limit} must be 1..{R2_MAX_KEYS_PER_LIST}")
        after = start_after or ""
        if cursor is not None:
            after = max(after, _decode_cursor(cursor))
        count(self._meter, R2_CLASS_A)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_COLUMNS} FROM objects WHERE key > ? AND key >= ? "
                "AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
                (after, prefix, len(prefix), prefix, limit + 1),
            ).fetchall()
        objects = [self._info(row) for row in rows[:limit]]
        truncated = len(rows) > limit
        return ListPage(objects, truncated, _encode_cursor(objects[-1].key) if truncated else None)

    # --- multipart uploads (R2's rules: r2_multipart) -----------------------

    @guarded
    async def create_multipart_upload(
        self, key: str, *, content_type: str, custom_metadata: Mapping[str, str]
    ) -> MultipartUpload:
        limits.subrequest()
        _check_key(key)
        custom = dict(custom_metadata)
        size = _metadata_size(content_type, custom)
        if size > R2_MAX_METADATA_BYTES:
            raise LimitExceededError(f"R2 metadata for {key!r} is {size} bytes, over the limit of {R2_MAX_METADATA_BYTES}")
        count(self._meter, R2_CLASS_A)
        upload_id = uuid.uuid4().hex + uuid.uuid4().hex
        with self._lock:
            self._conn.execute(
                "INSERT INTO uploads (upload_id, key, content_type, custom_metadata, created, state) VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, key, content_type, json.dumps(custom), self._clock(), IN_PROGRESS),
            )
        return MultipartUpload(key, upload_id)

    @guarded
    async def upload_part(self, key: str, upload_id: str, part_number: int, data: bytes | bytearray) -> UploadedPart:
        limits.subrequest()
        _check_key(key)
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"R2 part data must be bytes, got {type(data).__name__}")
        limits.payload(len(data))
        check_part(part_number, len(data))
        count(self._meter, R2_CLASS_A)
        return await asyncio.to_thread(self._upload_part_sync, key, upload_id, part_number, bytes(data))

    def _state(self, key: str, upload_id: str) -> int | None:
        row = self._conn.execute("SELECT state FROM uploads WHERE upload_id = ? AND key = ?", (upload_id, key)).fetchone()
        return None if row is None else int(row[0])

    def _upload_part_sync(self, key: str, upload_id: str, part_number: int, data: bytes) -> UploadedPart:
        with self._lock:
            if self._state(key, upload_id) != IN_PROGRESS:
                raise NoSuchUploadError(f"R2 multipart upload {upload_id!r} of {key!r} is not in progress")
        name = uuid.uuid4().hex
        path = self.parts_dir / name
        with _removed_on_failure(path), os.fdopen(open_private(path), "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        etag = part_etag(data)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                if self._state(key, upload_id) != IN_PROGRESS:
                    raise NoSuchUploadError(f"R2 multipart upload {upload_id!r} of {key!r} is not in progress")
                old = self._conn.execute(
                    "SELECT file FROM parts WHERE upload_id = ? AND part_number = ?", (upload_id, part_number)
                ).fetchone()
                self._conn.execute(
                    "INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, file) VALUES (?, ?, ?, ?, ?)",
                    (upload_id, part_number, len(data), etag, name),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                path.unlink(missing_ok=True)
                raise
        if old is not None:
            (self.parts_dir / old[0]).unlink(missing_ok=True)
        return UploadedPart(part_number, etag)

    @guarded
    async def complete_multipart_upload(self, key: str, upload_id: str, parts: Sequence[UploadedPart]) -> BlobInfo:
        limits.subrequest()
        _check_key(key)
        count(self._meter, R2_CLASS_A)
        return await asyncio.to_thread(self._complete_sync, key, upload_id, list(parts))

    def _complete_sync(self, key: str, upload_id: str, parts: builtins.list[UploadedPart]) -> BlobInfo:
        with self._lock:
            row = self._conn.execute(
                "SELECT content_type, custom_metadata, state FROM uploads WHERE upload_id = ? AND key = ?", (upload_id, key)
            ).fetchone()
            if row is None or row[2] != IN_PROGRESS:
                raise NoSuchUploadError(f"R2 multipart upload {upload_id!r} of {key!r} is not in progress")
            uploaded = {
                int(n): (int(size), str(etag), str(file))
                for n, size, etag, file in self._conn.execute(
                    "SELECT part_number, size, etag, file FROM parts WHERE upload_id = ?", (upload_id,)
                )
            }
        check_completion(parts, {n: (size, etag) for n, (size, etag, _) in uploaded.items()})
        name = uuid.uuid4().hex
        final = self.objects_dir / name[:2] / name
        private_dir(final.parent)
        temp = final.with_suffix(".tmp")
        with _removed_on_failure(temp):
            with os.fdopen(open_private(temp), "wb") as out:  # streamed: one part file after another, never the whole object in memory
                for part in parts:
                    with open(self.parts_dir / uploaded[part.part_number][2], "rb") as source:
                        shutil.copyfileobj(source, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, final)
        _fsync_dir(final.parent)
        size = sum(uploaded[p.part_number][0] for p in parts)
        info = BlobInfo(key, size, multipart_etag([p.etag for p in parts]), self._clock(), row[0], json.loads(row[1]))

        def finish(conn: sqlite3.Connection) -> None:
            state = conn.execute("SELECT state FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone()
            if state is None or state[0] != IN_PROGRESS:  # aborted (or completed) meanwhile
                raise NoSuchUploadError(f"R2 multipart upload {upload_id!r} of {key!r} is not in progress")
            conn.execute("UPDATE uploads SET state = ? WHERE upload_id = ?", (COMPLETED, upload_id))
            conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))

        self._index(info, f"{name[:2]}/{name}", finish)
        for _, _, file in uploaded.values():
            (self.parts_dir / file).unlink(missing_ok=True)
        return info

    @guarded
    async def abort_multipart_upload(self, key: str, upload_id: str) -> None:
        limits.subrequest()
        _check_key(key)
        count(self._meter, R2_DELETE)  # AbortMultipartUpload is free on R2, as deletes are
        with self._lock:
            if self._state(key, upload_id) is None:
                raise NoSuchUploadError(f"R2 multipart upload {upload_id!r} of {key!r} does not exist")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                files = [r[0] for r in self._conn.execute("SELECT file FROM parts WHERE upload_id = ?", (upload_id,))]
                self._conn.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
                self._conn.execute(
                    "UPDATE uploads SET state = ? WHERE upload_id = ? AND state = ?", (ABORTED, upload_id, IN_PROGRESS)
                )
                self._conn.execute("COMMIT")
            except BaseException:
                rollback_quietly(self._conn)
                raise
        for file in files:
            (self.parts_dir / file).unlink(missing_ok=True)

    def uploads_in_progress(self) -> builtins.list[tuple[str, str]]:
        """(key, upload id) of every upload neither completed nor aborted; for tests."""
        with self._lock:
            return [(r[0], r[1]) for r in self._conn.execute("SELECT key, upload_id FROM uploads WHERE state = ?", (IN_PROGRESS,))]

    # --- helpers for the runtime and tests ---------------------------------

    def set_uploaded(self, key: str, ts: float) -> None:
        """Backdate (or postdate) an object's upload time; for tests of expiry."""
        with self._lock:
            cur = self._conn.execute("UPDATE objects SET uploaded = ? WHERE key = ?", (ts, key))
        if cur.rowcount == 0:
            raise KeyError(key)

    def count(self) -> int:
        """How many objects the bucket holds."""
        with self._lock:
            return int(self._conn.execute("SELECT count(*) FROM objects").fetchone()[0])

    def sweep_orphans(self, min_age_seconds: float = 300.0) -> int:
        """Remove object files no index row points at (left by a killed process),
        if older than ``min_age_seconds`` of wall time. Returns how many."""
        with self._lock:
            known = {row[0] for row in self._conn.execute("SELECT file FROM objects")}
            known_parts = {row[0] for row in self._conn.execute("SELECT file FROM parts")}
            self._conn.execute(
                "DELETE FROM uploads WHERE state != ? AND created < ?",
                (IN_PROGRESS, self._clock() - FINISHED_UPLOAD_MEMORY_SECONDS),
            )
        cutoff = time.time() - min_age_seconds
        removed = 0
        for path in self.parts_dir.glob("*"):
            try:
                if path.name not in known_parts and path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        for path in self.objects_dir.glob("*/*"):
            relative = f"{path.parent.name}/{path.name}"
            try:
                if relative not in known and path.stat().st_mtime <= cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _row(self, key: str) -> tuple[BlobInfo, Path] | None:
        with self._lock:
            row = self._conn.execute(f"SELECT {_COLUMNS} FROM objects WHERE key = ?", (key,)).fetchone()
        return None if row is None else (self._info(row), self.objects_dir / row[6])

    @staticmethod
    def _info(row: tuple[Any, ...]) -> BlobInfo:
        return BlobInfo(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]))
