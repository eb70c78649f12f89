"""A long job's stored chunks into its one audio object, streamed: bounded memory, any length.

``assemble`` writes the joined file (``audio.join_layout``: one WAV header
for the total length, known once every chunk is stored, then the samples of
every chunk, sample-exact; MP3 frames of every chunk, frame-exact) to its
final key without ever holding it whole:

- audio that fits one part (``PART_BYTES``) is built in memory and put;
- longer audio goes up as an R2 multipart upload of equal parts (R2 wants
  every part but the last the same size, at least 5 MiB; at most 10,000
  parts, so parts grow past ``PART_BYTES`` only beyond 80 GiB). Each part
  is filled by ranged reads of the stored chunks (the bytes it needs, no
  more), uploaded, and let go: memory holds one part and one read.

Crash between parts: the upload's id is kept in R2 next to the chunks
(``shared.keys.upload_record_key``, written once when the upload is created)
and each uploaded part's ETag in its own record (``upload_part_record_key``,
written once), so a retry lists them and uploads only the parts after the
last one recorded. Records rather than the job row: they cost no schema
change or RPC, live and die with the chunks under ``tmp/<jobId>/`` (the
consumer's cleanup and the reaper's sweep already cover that prefix, the
``tmp/`` lifecycle rule backs both up), and the reaper can abort the upload
from a listing's metadata alone. A record is never rewritten, because R2
takes at most one write a second to a key. If the chunks changed meanwhile
(a chunk synthesized again), the ``digest`` differs and the old upload is
aborted and a new one started; if the upload is gone (aborted by the
lifecycle rule, completed by an earlier attempt) it restarts once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TYPE_CHECKING

from shared.errors import InvalidPartError, NoSuchUploadError, TransientSynthesisError
from shared.keys import abort_recorded, upload_part_record_key, upload_record_key
from shared.logs import JsonLogger
from shared.platform_limits import MIB, R2_MAX_KEYS_PER_DELETE, R2_MAX_KEYS_PER_LIST, R2_MULTIPART_MAX_PARTS
from shared.ports import BlobInfo, BlobStore, ByteRange, UploadedPart

if TYPE_CHECKING:
    from shared.audio.kinds import JoinLayout

__all__ = ["PART_BYTES", "Chunk", "JoinedReader", "assemble", "discard_upload", "part_size_for"]

PART_BYTES = 8 * MIB  # over R2_MULTIPART_MIN_PART_BYTES (5 MiB); 8 MiB keeps a 2 GiB job to 256 parts


def part_size_for(size: int, part_bytes: int = PART_BYTES) -> int:
    """The part size for ``size`` bytes: ``part_bytes``, or more when 10,000 parts would not hold it."""
    needed = -(-size // R2_MULTIPART_MAX_PARTS)
    return max(part_bytes, -(-needed // MIB) * MIB)


@dataclass(frozen=True)
class Chunk:
    """A stored chunk the joined file reads from: its key and its ETag (what the digest names)."""

    key: str
    etag: str


class _Reader:
    """Bytes of the joined file by offset, read from the stored chunks with ranged gets."""

    def __init__(self, bucket: BlobStore, layout: JoinLayout, chunks: Sequence[Chunk]) -> None:
        self._bucket = bucket
        self._layout = layout
        self._chunks = chunks
        self._starts = list(accumulate((p.length for p in layout.pieces), initial=len(layout.header)))

    async def read_into(self, buffer: bytearray, start: int) -> None:
        """Fill ``buffer`` with the joined file's bytes from ``start``."""
        end = start + len(buffer)
        pos = start
        header = self._layout.header
        if pos < len(header):
            n = min(len(header), end) - pos
            buffer[0:n] = header[pos : pos + n]
            pos += n
        for index, piece in enumerate(self._layout.pieces):
            if pos >= end:
                return
            piece_start, piece_end = self._starts[index], self._starts[index + 1]
            if piece_end <= pos:
                continue
            n = min(piece_end, end) - pos
            chunk = self._chunks[piece.part]
            body = await self._bucket.get(chunk.key, ByteRange(piece.offset + pos - piece_start, n))
            data = await body.read() if body is not None else b""
            if body is None or len(data) != n or body.info.etag != chunk.etag:
                # Removed or replaced since it was measured (a reaper pass, a racing delivery):
                # the retry measures and synthesizes again what is missing.
                raise TransientSynthesisError(f"chunk {piece.part} changed or vanished from R2 during assembly")
            buffer[pos - start : pos - start + n] = data
            del data
            pos += n


JoinedReader = _Reader  # for shared.synthesis.encoded_assembly, which reads the same joined bytes


@dataclass(frozen=True)
class _Upload:
    upload_id: str
    parts: list[UploadedPart]


async def assemble(
    bucket: BlobStore,
    *,
    job_id: str,
    plan: str,
    key: str,
    layout: JoinLayout,
    chunks: Sequence[Chunk],
    content_type: str,
    metadata: Mapping[str, str],
    record_metadata: Mapping[str, str],
    still_ours: Callable[[], Awaitable[None]],
    log: JsonLogger,
    part_bytes: int | None = None,
) -> BlobInfo:
    """Write the joined file to ``key`` and return its info (see the module doc).

    ``metadata`` is the final object's; ``record_metadata`` goes on the upload
    records (the job's id, tenant and creation time, as on the chunks);
    ``still_ours`` raises when the job stopped being this delivery's to finish.
    """
    size = layout.size
    reader = _Reader(bucket, layout, chunks)
    part_size = part_size_for(size, part_bytes or PART_BYTES)
    if size <= part_size:
        buffer = bytearray(size)
        await reader.read_into(buffer, 0)
        return await bucket.put(key, buffer, content_type=content_type, custom_metadata=dict(metadata))

    digest = _digest(layout, chunks, part_size)
    final_metadata = {**metadata, "assembly": digest}
    existing = await bucket.head(key)
    if existing is not None and existing.custom_metadata.get("assembly") == digest and existing.size == size:
        # An earlier attempt completed the upload and died before the job did.
        await discard_upload(bucket, job_id, plan, abort=False)
        return existing
    upload = await _resumable(bucket, job_id, plan, key, digest, log)
    if upload is None:
        await discard_upload(bucket, job_id, plan)  # an upload of other bytes (chunks changed), if any
        upload = await _start(bucket, job_id, plan, key, digest, part_size, size, content_type, final_metadata, record_metadata)
    count = -(-size // part_size)
    restarted = False
    while True:
        try:
            for number in range(len(upload.parts) + 1, count + 1):
                await still_ours()  # canceled or taken over: stop within one part (one RPC a part, renewing the lease)
                start = (number - 1) * part_size
                buffer = bytearray(min(part_size, size - start))
                await reader.read_into(buffer, start)
                part = await bucket.upload_part(key, upload.upload_id, number, buffer)
                del buffer
                await bucket.put(
                    upload_part_record_key(job_id, plan, number),
                    b"",
                    content_type="application/octet-stream",
                    custom_metadata={**record_metadata, "uploadId": upload.upload_id, "etag": part.etag},
                )
                upload.parts.append(part)
            info = await bucket.complete_multipart_upload(key, upload.upload_id, upload.parts)
            break
        except (NoSuchUploadError, InvalidPartError) as exc:
            if restarted:
                raise TransientSynthesisError(f"the multipart upload of {key} failed twice: {exc}") from exc
            restarted = True
            log.warning("upload_restarted", jobId=job_id, uploadId=upload.upload_id, error=str(exc))
            await discard_upload(bucket, job_id, plan)
            upload = await _start(bucket, job_id, plan, key, digest, part_size, size, content_type, final_metadata, record_metadata)
    await discard_upload(bucket, job_id, plan, abort=False)
    log.info("upload_completed", jobId=job_id, parts=count, partSize=part_size, sizeBytes=info.size)
    return info


def _digest(layout: JoinLayout, chunks: Sequence[Chunk], part_size: int) -> str:
    """16 hex digits naming the joined bytes and how they are cut into parts."""
    basis = [1, layout.header.hex(), [[p.part, p.offset, p.length] for p in layout.pieces], [c.etag for c in chunks], part_size]
    return hashlib.sha256(json.dumps(basis).encode()).hexdigest()[:16]


async def _start(
    bucket: BlobStore,
    job_id: str,
    plan: str,
    key: str,
    digest: str,
    part_size: int,
    size: int,
    content_type: str,
    metadata: Mapping[str, str],
    record_metadata: Mapping[str, str],
) -> _Upload:
    created = await bucket.create_multipart_upload(key, content_type=content_type, custom_metadata=dict(metadata))
    await bucket.put(
        upload_record_key(job_id, plan),
        b"",
        content_type="application/octet-stream",
        custom_metadata={
            **record_metadata,
            "uploadId": created.upload_id,
            "uploadKey": key,
            "digest": digest,
            "partSize": str(part_size),
            "size": str(size),
        },
    )
    return _Upload(created.upload_id, [])


async def _records(bucket: BlobStore, job_id: str, plan: str) -> list[BlobInfo]:
    found: list[BlobInfo] = []
    cursor: str | None = None
    for _ in range(R2_MULTIPART_MAX_PARTS // R2_MAX_KEYS_PER_LIST + 2):
        page = await bucket.list(prefix=upload_record_key(job_id, plan), cursor=cursor)
        found.extend(page.objects)
        if not page.truncated or not page.cursor:
            break
        cursor = page.cursor
    return found


async def _resumable(bucket: BlobStore, job_id: str, plan: str, key: str, digest: str, log: JsonLogger) -> _Upload | None:
    """The upload an earlier attempt left for these same bytes, with the parts it recorded; None if none."""
    records = await _records(bucket, job_id, plan)
    head_key = upload_record_key(job_id, plan)
    head = next((r for r in records if r.key == head_key), None)
    if head is None:
        return None
    meta = head.custom_metadata
    upload_id = meta.get("uploadId", "")
    if not upload_id or meta.get("uploadKey") != key or meta.get("digest") != digest:
        return None
    etags: dict[int, str] = {}
    for record in records:
        number = record.key[len(head_key) + 1 :]
        if record.key != head_key and number.isdigit() and record.custom_metadata.get("uploadId") == upload_id:
            etags[int(number)] = record.custom_metadata.get("etag", "")
    parts: list[UploadedPart] = []
    while len(parts) + 1 in etags:  # the parts in order up to the first gap; the rest are uploaded again
        parts.append(UploadedPart(len(parts) + 1, etags[len(parts) + 1]))
    log.info("upload_resumed", jobId=job_id, uploadId=upload_id, parts=len(parts))
    return _Upload(upload_id, parts)


async def discard_upload(bucket: BlobStore, job_id: str, plan: str, *, abort: bool = True) -> int:
    """Abort the upload recorded for ``plan`` (when ``abort``) and delete its records; returns how many records.

    Best effort on the abort: an upload R2 no longer knows (completed, or aborted
    by the lifecycle rule) is fine, and one it fails to abort is the lifecycle
    rule's. The part records go before the upload's own record, so a crash in
    between leaves the record that names the upload.
    """
    records = await _records(bucket, job_id, plan)
    head_key = upload_record_key(job_id, plan)
    head = next((r for r in records if r.key == head_key), None)
    if abort and head is not None:
        await abort_recorded(bucket, head)
    keys = [r.key for r in records if r.key != head_key] + ([head_key] if head is not None else [])
    for start in range(0, len(keys), R2_MAX_KEYS_PER_DELETE):
        await bucket.delete(keys[start : start + R2_MAX_KEYS_PER_DELETE])
    return len(keys)
