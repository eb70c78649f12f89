"""The body of a local R2 object: what ``LocalBucket.get`` returns.

On Cloudflare an object body is a JS ``ReadableStream`` the HTTP layer can
send without copying it through Python. The local equivalent is an open file
descriptor plus a byte range (``LocalBlobHandle``), which the local HTTP
server streams in chunks; ``LocalBlobBody.read()`` copies it into bytes for
the paths that must (the legacy base64 result).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from local_runtime import limits
from shared.ports import BlobInfo, ByteRange


class LocalBlobHandle:
    """An open byte range of one object file: the local ``raw`` of an R2 body.

    The file is opened when the object is read (under the bucket's lock), so
    a later delete or overwrite of the key does not disturb a reader already
    holding the handle, as with R2. Reads use ``os.pread`` (no shared file
    position), so an HTTP server may stream it with ``chunks`` or ``sendfile``
    on ``fileno()``. The descriptor is closed by ``close()`` or on collection.
    """

    def __init__(self, path: Path, offset: int, length: int, fd: int | None = None) -> None:
        self.path = path
        self.offset = offset
        self.length = length
        self._fd = os.open(path, os.O_RDONLY) if fd is None else fd
        self._finalizer = weakref.finalize(self, os.close, self._fd)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def fileno(self) -> int:
        self._check_open()
        return self._fd

    def _check_open(self) -> None:
        # A closed descriptor's number may already belong to another file.
        if self.closed:
            raise ValueError(f"handle of {self.path} is closed")

    def chunks(self, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
        """Yield the range in pieces of at most ``chunk_size`` bytes."""
        return self._pieces(self.offset, chunk_size)

    def _pieces(self, position: int, chunk_size: int) -> Iterator[bytes]:
        end = self.offset + self.length
        while position < end:
            self._check_open()
            piece = os.pread(self._fd, min(chunk_size, end - position), position)
            if not piece:
                raise OSError(f"object file {self.path} is shorter than its index says")
            position += len(piece)
            yield piece

    def read_all(self) -> bytes:
        """The whole range as bytes (one read: joining pieces would hold the object twice)."""
        self._check_open()
        data = os.pread(self._fd, self.length, self.offset)
        if len(data) < self.length:  # over 2 GiB at once, or a short file: the rest in pieces
            data += b"".join(self._pieces(self.offset + len(data), 1024 * 1024))
        return data

    def close(self) -> None:
        """Close the descriptor; closing twice is harmless."""
        self._finalizer()


class LocalBlobBody:
    """``shared.ports.BlobBody`` of a local object: info, range and a file handle."""

    def __init__(self, info: BlobInfo, byte_range: ByteRange | None, handle: LocalBlobHandle):
        self.info = info
        self.range = byte_range
        self._handle = handle

    @property
    def raw(self) -> LocalBlobHandle:
        return self._handle

    async def read(self) -> bytes:
        """The bytes of the range (or the whole object); closes the handle."""
        try:
            limits.payload(self.range.length if self.range is not None else self.info.size)
            return self._handle.read_all()
        finally:
            self._handle.close()

    async def pieces(self, size: int) -> AsyncIterator[bytes]:
        """The range in pieces of at most ``size`` bytes, each read when asked for; closes the handle."""
        try:
            for piece in self._handle.chunks(size):
                yield piece
        finally:
            self._handle.close()
