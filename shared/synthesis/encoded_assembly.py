"""A long job in a format that cannot be joined as files: its chunks' PCM, joined and encoded once, into R2.

Ogg Opus, AAC and FLAC files carry stream-wide state (headers, granule
positions, sample counts, encoder priming), so a long job in one of them
keeps its chunks as raw PCM (shared/synthesis/longform.py) and
``assemble_encoded`` encodes the joined PCM in one pass, streamed:

- the joined PCM is read from the stored chunks in ``READ_BYTES`` ranges
  (``assembly.JoinedReader``, the reader the plain assembly uses), fed to one
  ``EncoderStream``, and what comes out is cut into equal parts of an R2
  multipart upload (``assembly.part_size_for``, at least 5 MiB each, the last
  shorter); memory holds one read and one part whatever the length;
- encoded audio that fits one part is put as one object.

The upload is recorded under ``tmp/<jobId>/<plan>/upload`` like the plain
assembly's (``shared.keys.upload_record_key``), so the consumer's cleanup
and the reaper abort one a crash left behind. A retry does not resume an
encoded upload (an encoder's state cannot be saved): it aborts what is there
and encodes again from the stored chunks; nothing is synthesized twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from shared.errors import PermanentSynthesisError
from shared.keys import upload_record_key
from shared.ports import BlobInfo, BlobStore, UploadedPart
from shared.synthesis.assembly import PART_BYTES, Chunk, JoinedReader, discard_upload, part_size_for

if TYPE_CHECKING:
    from shared.audio.kinds import JoinLayout
    from shared.synthesis.encoding import StreamingEncoder

__all__ = ["READ_BYTES", "assemble_encoded"]

READ_BYTES = 1 << 20  # PCM read from the chunks a range at a time


async def assemble_encoded(
    bucket: BlobStore,
    *,
    job_id: str,
    plan: str,
    key: str,
    layout: JoinLayout,
    chunks: Sequence[Chunk],
    encoder: StreamingEncoder,
    sample_rate: int,
    content_type: str,
    metadata: Mapping[str, str],
    record_metadata: Mapping[str, str],
    still_ours: Callable[[], Awaitable[None]],
    part_bytes: int | None = None,
    max_bytes: int | None = None,
) -> BlobInfo:
    """Encode the joined PCM that ``layout`` describes into ``key``; returns its info (see the module doc).

    More than ``max_bytes`` of encoded audio (``MAX_AUDIO_BYTES``) fails the job (``PermanentSynthesisError``)."""
    await discard_upload(bucket, job_id, plan)  # what an earlier attempt left, if anything
    size = layout.size
    reader = JoinedReader(bucket, layout, chunks)
    # The encoded file is never bigger than its PCM (FLAC's worst case is about that), so parts sized
    # for the PCM stay within R2's 10,000.
    part_size = part_size_for(size, part_bytes or PART_BYTES)
    stream = encoder.stream(sample_rate, size // 2)
    pending = bytearray()
    upload_id: str | None = None
    parts: list[UploadedPart] = []
    made = 0

    async def send(data: bytes) -> None:
        nonlocal upload_id
        if upload_id is None:
            created = await bucket.create_multipart_upload(key, content_type=content_type, custom_metadata=dict(metadata))
            upload_id = created.upload_id
            await bucket.put(
                upload_record_key(job_id, plan), b"", content_type="application/octet-stream",
                custom_metadata={**record_metadata, "uploadId": upload_id, "uploadKey": key, "digest": "encoded"},
            )
        await still_ours()  # canceled or taken over: stop within one part
        parts.append(await bucket.upload_part(key, upload_id, len(parts) + 1, data))

    try:
        offset = 0
        while offset < size:
            buffer = bytearray(min(READ_BYTES, size - offset))
            await reader.read_into(buffer, offset)
            offset += len(buffer)
            encoded = await asyncio.to_thread(stream.write, bytes(buffer))  # CPU: off the event loop
            del buffer
            made += len(encoded)
            if max_bytes is not None and made > max_bytes:
                raise PermanentSynthesisError(
                    f"the encoded audio passed MAX_AUDIO_BYTES ({max_bytes} bytes); split the text into several jobs"
                )
            pending += encoded
            while len(pending) >= part_size:
                await send(bytes(pending[:part_size]))
                del pending[:part_size]
        pending += await asyncio.to_thread(stream.finish)
        if upload_id is None:
            return await bucket.put(key, bytes(pending), content_type=content_type, custom_metadata=dict(metadata))
        if pending:
            await send(bytes(pending))
        info = await bucket.complete_multipart_upload(key, upload_id, parts)
    except Exception:
        if upload_id is not None:
            await discard_upload(bucket, job_id, plan)
        raise
    await discard_upload(bucket, job_id, plan, abort=False)
    return info
