"""The local R2 bucket (local_runtime.bindings.r2)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from local_runtime.bindings.meter import Meter
from local_runtime.bindings.r2 import LocalBlobHandle, LocalBucket
from shared.errors import LimitExceededError
from shared.ports import BlobBody, ByteRange


@pytest.fixture
def meter() -> Meter:
    return Meter()


@pytest.fixture
def bucket(tmp_path: Path, meter: Meter) -> LocalBucket:
    return LocalBucket(tmp_path / "r2", meter, clock=lambda: 1_700_000_000.0)


async def test_put_head_get_round_trip(bucket: LocalBucket) -> None:
    info = await bucket.put(
        "audio/2024/01/02/j1.wav", b"RIFFdata", content_type="audio/wav",
        custom_metadata={"jobId": "j1", "tenant": "t"},
    )
    assert info.size == 8
    assert info.etag == hashlib.md5(b"RIFFdata").hexdigest()
    assert info.uploaded == 1_700_000_000.0
    assert await bucket.head("audio/2024/01/02/j1.wav") == info
    body = await bucket.get("audio/2024/01/02/j1.wav")
    assert isinstance(body, BlobBody)
    assert body.info == info and body.range is None
    assert isinstance(body.raw, LocalBlobHandle)
    assert await body.read() == b"RIFFdata"
    assert await bucket.get("missing") is None
    assert await bucket.head("missing") is None


async def test_range_reads(bucket: LocalBucket) -> None:
    data = bytes(range(256)) * 100
    await bucket.put("k", data, content_type="application/octet-stream", custom_metadata={})
    body = await bucket.get("k", ByteRange(10, 20))
    assert body is not None and body.range == ByteRange(10, 20)
    assert await body.read() == data[10:30]
    tail = await bucket.get("k", ByteRange(25_590, 100))  # runs past the end: cut
    assert tail is not None and tail.range == ByteRange(25_590, 10)
    assert await tail.read() == data[-10:]
    streamed = await bucket.get("k", ByteRange(1000, 5000))
    assert streamed is not None
    pieces = list(streamed.raw.chunks(1024))
    assert [len(p) for p in pieces] == [1024] * 4 + [904]
    assert b"".join(pieces) == data[1000:6000]
    streamed.raw.close()
    streamed.raw.close()
    assert streamed.raw.closed
    with pytest.raises(ValueError, match="closed"):
        list(streamed.raw.chunks())
    with pytest.raises(ValueError, match="outside"):
        await bucket.get("k", ByteRange(25_601, 1))


async def test_a_reader_keeps_its_bytes_when_the_key_is_replaced(bucket: LocalBucket) -> None:
    await bucket.put("k", b"old" * 1000, content_type="a/b", custom_metadata={})
    body = await bucket.get("k")
    await bucket.put("k", b"new", content_type="a/b", custom_metadata={})
    await bucket.delete(["k"])
    assert body is not None and await body.read() == b"old" * 1000


async def test_overwrite_replaces_and_leaves_no_stray_file(bucket: LocalBucket) -> None:
    await bucket.put("k", b"one", content_type="a/b", custom_metadata={"v": "1"})
    await bucket.put("k", b"two!", content_type="c/d", custom_metadata={"v": "2"})
    info = await bucket.head("k")
    assert info is not None and (info.size, info.content_type, info.custom_metadata) == (4, "c/d", {"v": "2"})
    assert len([p for p in (bucket.objects_dir).glob("*/*")]) == 1
    assert bucket.count() == 1


async def test_key_limits(bucket: LocalBucket) -> None:
    await bucket.put("é" * 512, b"", content_type="a/b", custom_metadata={})  # 1024 bytes
    with pytest.raises(LimitExceededError, match="1026 bytes; it must be 1..1024"):
        await bucket.put("é" * 513, b"", content_type="a/b", custom_metadata={})
    with pytest.raises(LimitExceededError, match="0 bytes"):
        await bucket.put("", b"", content_type="a/b", custom_metadata={})
    with pytest.raises(LimitExceededError):
        await bucket.get("x" * 1025)


async def test_metadata_limit(bucket: LocalBucket) -> None:
    content_type = "audio/wav"
    fill = "v" * (8192 - len(content_type) - 1)
    await bucket.put("ok", b"", content_type=content_type, custom_metadata={"k": fill})
    with pytest.raises(LimitExceededError, match="8193 bytes, over the limit of 8192"):
        await bucket.put("no", b"", content_type=content_type, custom_metadata={"k": fill + "v"})
    with pytest.raises(TypeError):
        await bucket.put("no", b"", content_type=content_type, custom_metadata={"k": 1})  # type: ignore[dict-item]
    assert await bucket.head("no") is None


async def test_list_paginates_over_more_than_1000_objects(bucket: LocalBucket) -> None:
    for i in range(1203):
        await bucket.put(f"audio/{i:05d}", b"x", content_type="a/b", custom_metadata={"i": str(i)})
    await bucket.put("other/1", b"x", content_type="a/b", custom_metadata={})
    keys: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await bucket.list(prefix="audio/", cursor=cursor)
        pages += 1
        keys += [obj.key for obj in page.objects]
        if not page.truncated:
            assert page.cursor is None
            break
        cursor = page.cursor
    assert pages == 2
    assert keys == [f"audio/{i:05d}" for i in range(1203)]
    first = await bucket.list(prefix="audio/", limit=3)
    assert [o.custom_metadata for o in first.objects] == [{"i": "0"}, {"i": "1"}, {"i": "2"}]
    after = await bucket.list(prefix="audio/", limit=2, start_after="audio/01200")
    assert [o.key for o in after.objects] == ["audio/01201", "audio/01202"]
    assert not after.truncated  # exactly the last two
    everything = await bucket.list(start_after="audio/01202")
    assert [o.key for o in everything.objects] == ["other/1"]


async def test_list_limits_and_order(bucket: LocalBucket) -> None:
    for key in ["b", "a%", "a_", "a", "é", "z"]:
        await bucket.put(key, b"", content_type="a/b", custom_metadata={})
    assert [o.key for o in (await bucket.list()).objects] == ["a", "a%", "a_", "b", "z", "é"]
    assert [o.key for o in (await bucket.list(prefix="a_")).objects] == ["a_"]  # no LIKE wildcards
    for bad in (0, 1001):
        with pytest.raises(LimitExceededError, match="must be 1..1000"):
            await bucket.list(limit=bad)
    with pytest.raises(ValueError, match="cursor"):
        await bucket.list(cursor="not-a-cursor")


async def test_delete(bucket: LocalBucket) -> None:
    for key in ("a", "b", "c"):
        await bucket.put(key, b"x", content_type="a/b", custom_metadata={})
    await bucket.delete(["a", "missing", "c"])
    await bucket.delete("b")
    assert bucket.count() == 0
    assert list(bucket.objects_dir.glob("*/*")) == []
    await bucket.delete([f"k{i}" for i in range(1000)])
    with pytest.raises(LimitExceededError, match="1001 keys"):
        await bucket.delete([f"k{i}" for i in range(1001)])


async def test_meter_counts_operation_classes(bucket: LocalBucket, meter: Meter) -> None:
    await bucket.put("k", b"x", content_type="a/b", custom_metadata={})
    await bucket.list()
    await bucket.head("k")
    body = await bucket.get("k")
    assert body is not None
    await body.read()
    await bucket.get("missing")
    await bucket.delete(["k", "j"])
    assert meter.snapshot() == {"r2.class_a": 2, "r2.class_b": 3, "r2.delete": 1}


async def test_set_uploaded_and_persistence_across_reopen(tmp_path: Path) -> None:
    first = LocalBucket(tmp_path / "r2")
    await first.put("k", b"kept", content_type="a/b", custom_metadata={"m": "1"})
    first.set_uploaded("k", 123.0)
    with pytest.raises(KeyError):
        first.set_uploaded("missing", 1.0)
    first.close()
    again = LocalBucket(tmp_path / "r2")
    info = await again.head("k")
    assert info is not None and info.uploaded == 123.0 and info.custom_metadata == {"m": "1"}
    body = await again.get("k")
    assert body is not None and await body.read() == b"kept"


async def test_stray_files_are_invisible_and_swept(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path / "r2")
    await bucket.put("k", b"real", content_type="a/b", custom_metadata={})
    stray_dir = bucket.objects_dir / "ab"
    stray_dir.mkdir(exist_ok=True)
    (stray_dir / "abcdef.tmp").write_bytes(b"half an obj")  # a put killed mid-write
    (stray_dir / "abcdef").write_bytes(b"complete but never indexed")
    assert bucket.count() == 1
    assert bucket.sweep_orphans() == 0  # too young: another process may be about to index it
    bucket.close()
    reopened = LocalBucket(tmp_path / "r2", orphan_grace_seconds=0)
    assert [o.key for o in (await reopened.list()).objects] == ["k"]
    assert not (stray_dir / "abcdef.tmp").exists() and not (stray_dir / "abcdef").exists()
    assert len(list(reopened.objects_dir.glob("*/*"))) == 1
    body = await reopened.get("k")
    assert body is not None and await body.read() == b"real"


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from local_runtime.bindings.r2 import LocalBucket

    async def main():
        bucket = LocalBucket(sys.argv[1])
        i = 0
        while True:
            i += 1
            await bucket.put("obj", bytes([i % 256]) * 3_000_000, content_type="a/b",
                             custom_metadata={"i": str(i)})
            print(i, flush=True)

    asyncio.run(main())
    """
)


def test_kill_9_during_puts_never_exposes_a_partial_object(tmp_path: Path) -> None:
    root = tmp_path / "r2"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root)], stdout=subprocess.PIPE, text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # at least one complete put
        time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    async def check() -> None:
        bucket = LocalBucket(root, orphan_grace_seconds=0)
        info = await bucket.head("obj")
        assert info is not None and info.size == 3_000_000
        body = await bucket.get("obj")
        assert body is not None
        data = await body.read()
        assert hashlib.md5(data).hexdigest() == info.etag
        assert data == bytes([int(info.custom_metadata["i"]) % 256]) * 3_000_000
        assert len(list(root.glob("objects/*/*"))) == 1  # every stray file swept

    asyncio.run(check())
