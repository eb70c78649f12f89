"""R2 multipart rules, on the local bucket and on the unit tests' in-memory fake alike.

Cloudflare's rules (r2/objects/multipart-objects, r2/platform/limits): parts of
at least 5 MiB but the last, all the same size, the last no larger; part
numbers 1..10,000; ``complete`` with the uploaded parts' ETags; abort; part
ETags are MD5s, the object's the MD5 of the binary MD5s with ``-<count>``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from local_runtime.bindings.meter import R2_CLASS_A, R2_DELETE, Meter
from local_runtime.bindings.r2 import LocalBucket
from shared.errors import InvalidPartError, LimitExceededError, NoSuchUploadError
from shared.platform_limits import R2_MULTIPART_MIN_PART_BYTES
from shared.ports import UploadedPart
from tests.fakes import FakeClock, MemoryBucket

MIB = 1024 * 1024
KEY = "audio/2026/12/02/" + "a" * 32 + ".wav"


def blob(n: int, seed: int) -> bytes:
    return bytes((seed + i) % 251 for i in range(256)) * (n // 256) + bytes(n % 256)


@pytest.fixture(params=["local", "memory"])
async def bucket(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LocalBucket | MemoryBucket]:
    if request.param == "local":
        local = LocalBucket(tmp_path / "r2", Meter())
        yield local
        local.close()
    else:
        yield MemoryBucket(FakeClock())


async def read(bucket: LocalBucket | MemoryBucket, key: str) -> bytes:
    body = await bucket.get(key)
    assert body is not None
    return await body.read()


async def test_parts_join_in_order_with_metadata_and_an_s3_style_etag(bucket: LocalBucket | MemoryBucket) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={"jobId": "j"})
    datas = [blob(5 * MIB, 1), blob(5 * MIB, 2), blob(1234, 3)]
    parts = [await bucket.upload_part(KEY, upload.upload_id, n, d) for n, d in enumerate(datas, start=1)]
    assert [p.etag for p in parts] == [hashlib.md5(d).hexdigest() for d in datas]
    assert await bucket.head(KEY) is None  # nothing exists before complete
    info = await bucket.complete_multipart_upload(KEY, upload.upload_id, parts)
    joined = b"".join(datas)
    assert info.size == len(joined) and await read(bucket, KEY) == joined
    md5s = b"".join(hashlib.md5(d).digest() for d in datas)
    assert info.etag == f"{hashlib.md5(md5s).hexdigest()}-3"
    head = await bucket.head(KEY)
    assert head is not None and head.content_type == "audio/wav" and head.custom_metadata == {"jobId": "j"}
    # the upload is over: later calls get NoSuchUpload, as on R2
    with pytest.raises(NoSuchUploadError):
        await bucket.upload_part(KEY, upload.upload_id, 4, b"x")
    with pytest.raises(NoSuchUploadError):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, parts)
    await bucket.abort_multipart_upload(KEY, upload.upload_id)  # aborting a completed upload is not an error


async def test_a_single_small_part_is_a_valid_upload(bucket: LocalBucket | MemoryBucket) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    part = await bucket.upload_part(KEY, upload.upload_id, 1, b"tiny")
    assert (await bucket.complete_multipart_upload(KEY, upload.upload_id, [part])).size == 4  # the last part has no minimum


@pytest.mark.parametrize(
    ("sizes", "problem"),
    [
        ([5 * MIB - 1, 10], "at least 5242880 bytes"),  # a non-last part under 5 MiB
        ([6 * MIB, 5 * MIB, 10], "the same size"),  # non-last parts of different sizes
        ([5 * MIB, 5 * MIB + 1], "larger than the others"),  # the last larger than the rest
    ],
)
async def test_part_sizes_follow_r2s_rules(bucket: LocalBucket | MemoryBucket, sizes: list[int], problem: str) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    parts = [await bucket.upload_part(KEY, upload.upload_id, n, blob(s, n)) for n, s in enumerate(sizes, start=1)]
    with pytest.raises(LimitExceededError, match=problem):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, parts)
    assert await bucket.head(KEY) is None
    # the upload is still open: a correct part list completes it
    fixed = [await bucket.upload_part(KEY, upload.upload_id, n, blob(R2_MULTIPART_MIN_PART_BYTES, n)) for n in (1, 2)]
    assert (await bucket.complete_multipart_upload(KEY, upload.upload_id, fixed)).size == 2 * R2_MULTIPART_MIN_PART_BYTES


async def test_complete_needs_the_uploaded_etags_in_ascending_order(bucket: LocalBucket | MemoryBucket) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    one = await bucket.upload_part(KEY, upload.upload_id, 1, blob(5 * MIB, 1))
    two = await bucket.upload_part(KEY, upload.upload_id, 2, b"end")
    with pytest.raises(InvalidPartError, match="was not uploaded"):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [one, UploadedPart(2, "0" * 32)])
    with pytest.raises(InvalidPartError, match="no such part"):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [one, UploadedPart(3, two.etag)])
    with pytest.raises(InvalidPartError, match="ascend"):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [two, one])
    with pytest.raises(LimitExceededError, match="at least one part"):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [])
    # a part uploaded again replaces the old one (new ETag); the old ETag no longer completes
    again = await bucket.upload_part(KEY, upload.upload_id, 2, b"END!")
    with pytest.raises(InvalidPartError):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [one, two])
    info = await bucket.complete_multipart_upload(KEY, upload.upload_id, [one, again])
    assert (await read(bucket, KEY))[-4:] == b"END!" and info.size == 5 * MIB + 4


@pytest.mark.parametrize("number", [0, 10_001, -1])
async def test_part_numbers_are_1_to_10000(bucket: LocalBucket | MemoryBucket, number: int) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    with pytest.raises(LimitExceededError, match="1..10000"):
        await bucket.upload_part(KEY, upload.upload_id, number, b"x")
    assert (await bucket.upload_part(KEY, upload.upload_id, 10_000, b"x")).part_number == 10_000


async def test_abort_drops_the_parts_and_ends_the_upload(bucket: LocalBucket | MemoryBucket) -> None:
    upload = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    part = await bucket.upload_part(KEY, upload.upload_id, 1, blob(MIB, 1))
    await bucket.abort_multipart_upload(KEY, upload.upload_id)
    await bucket.abort_multipart_upload(KEY, upload.upload_id)  # twice is fine
    with pytest.raises(NoSuchUploadError):
        await bucket.complete_multipart_upload(KEY, upload.upload_id, [part])
    with pytest.raises(NoSuchUploadError):
        await bucket.upload_part(KEY, upload.upload_id, 2, b"x")
    with pytest.raises(NoSuchUploadError):
        await bucket.abort_multipart_upload(KEY, "never-created")
    with pytest.raises(NoSuchUploadError):  # an upload id belongs to its key
        await bucket.upload_part("audio/other.wav", upload.upload_id, 1, b"x")
    assert await bucket.head(KEY) is None


async def test_local_parts_are_files_that_complete_and_abort_remove(tmp_path: Path) -> None:
    meter = Meter()
    bucket = LocalBucket(tmp_path / "r2", meter)
    kept = await bucket.create_multipart_upload(KEY, content_type="audio/wav", custom_metadata={})
    dropped = await bucket.create_multipart_upload("audio/x.wav", content_type="audio/wav", custom_metadata={})
    parts = [await bucket.upload_part(KEY, kept.upload_id, n, blob(5 * MIB, n)) for n in (1, 2)]
    await bucket.upload_part(KEY, kept.upload_id, 3, b"not listed")  # uploaded but left out of complete
    await bucket.upload_part("audio/x.wav", dropped.upload_id, 1, b"abandoned")
    assert len(os.listdir(bucket.parts_dir)) == 4 and len(bucket.uploads_in_progress()) == 2
    await bucket.complete_multipart_upload(KEY, kept.upload_id, parts)
    await bucket.abort_multipart_upload("audio/x.wav", dropped.upload_id)
    assert os.listdir(bucket.parts_dir) == [] and bucket.uploads_in_progress() == []
    # create, 4 parts, complete: class A; the abort is free, like deletes
    assert meter.get(R2_CLASS_A) == 2 + 4 + 1 and meter.get(R2_DELETE) == 1
    # a part file no row points at (a crash mid-upload) is swept like a stray object file
    (bucket.parts_dir / "stray").write_bytes(b"x")
    os.utime(bucket.parts_dir / "stray", (0, 0))
    assert bucket.sweep_orphans(60) == 1
    bucket.close()
    # the state survives a restart
    again = LocalBucket(tmp_path / "r2")
    assert await read(again, KEY) == blob(5 * MIB, 1) + blob(5 * MIB, 2)
    with pytest.raises(NoSuchUploadError):
        await again.upload_part(KEY, kept.upload_id, 4, b"x")
    again.close()
