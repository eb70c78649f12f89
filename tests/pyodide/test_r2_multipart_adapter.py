"""The R2 adapter's multipart calls in Pyodide against Miniflare's R2, and the local bucket, alike.

One scenario (create, parts, complete, a wrong ETag, a part under 5 MiB, abort,
calls after abort) runs through ``cloudflare_adapters.r2.R2BlobStore`` on the
fixture Worker's R2 binding and through ``LocalBucket``; the outcomes must
match, so the errors the assembly's resume logic relies on
(``NoSuchUploadError`` to restart, ``InvalidPartError``, ``LimitExceededError``)
are what Cloudflare's binding raises, not only what the local one does.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from pyodide_harness import Harness

from local_runtime.bindings.r2 import LocalBucket

SCENARIO = '''
import hashlib

async def scenario(bucket):
    out = []

    async def outcome(label, call):
        try:
            value = await call
        except Exception as exc:
            out.append([label, "raised", type(exc).__name__])
            return None
        out.append([label, "ok"])
        return value

    mib = 1024 * 1024
    key = "audio/2026/12/02/" + "b" * 32 + ".wav"
    up = await bucket.create_multipart_upload(key, content_type="audio/wav", custom_metadata={"jobId": "j"})
    one = await bucket.upload_part(key, up.upload_id, 1, bytes(range(256)) * (5 * mib // 256))
    two = await bucket.upload_part(key, up.upload_id, 2, b"the end")
    out.append(["part etags differ", one.etag != two.etag, one.part_number, two.part_number])
    await outcome("wrong etag", bucket.complete_multipart_upload(key, up.upload_id, [one, type(two)(2, "0" * 32)]))
    info = await outcome("complete", bucket.complete_multipart_upload(key, up.upload_id, [one, two]))
    body = await bucket.get(key)
    data = await body.read()
    out.append(["object", info.size, len(data), hashlib.md5(data).hexdigest(), info.etag.endswith("-2"),
                body.info.content_type, body.info.custom_metadata])
    await outcome("abort completed", bucket.abort_multipart_upload(key, up.upload_id))
    await outcome("part after complete", bucket.upload_part(key, up.upload_id, 3, b"x"))

    small = await bucket.create_multipart_upload(key + "2", content_type="audio/wav", custom_metadata={})
    a = await bucket.upload_part(key + "2", small.upload_id, 1, b"under 5 MiB")
    b = await bucket.upload_part(key + "2", small.upload_id, 2, b"last")
    await outcome("small non-last part", bucket.complete_multipart_upload(key + "2", small.upload_id, [a, b]))
    await outcome("abort", bucket.abort_multipart_upload(key + "2", small.upload_id))
    await outcome("part after abort", bucket.upload_part(key + "2", small.upload_id, 3, b"x"))
    await outcome("complete after abort", bucket.complete_multipart_upload(key + "2", small.upload_id, [a, b]))
    out.append(["aborted object", await bucket.head(key + "2")])
    return out
'''

PROBE = SCENARIO + '''
from _pyodide_harness import env
from cloudflare_adapters.r2 import R2BlobStore
await scenario(R2BlobStore(env().BUCKET))
'''


def local_outcomes() -> list[Any]:
    scope: dict[str, Any] = {}
    exec(SCENARIO, scope)  # noqa: S102 - the same scenario text the Worker runs
    with tempfile.TemporaryDirectory() as tmp:
        bucket = LocalBucket(Path(tmp) / "r2")
        try:
            return asyncio.run(scope["scenario"](bucket))
        finally:
            bucket.close()


def test_multipart_outcomes_match_on_both_runtimes(harness: Harness, mini: str) -> None:
    on_cloudflare = harness.run_python(mini, PROBE)
    local = local_outcomes()
    assert on_cloudflare == local
    assert ["wrong etag", "raised", "InvalidPartError"] in local
    assert ["small non-last part", "raised", "LimitExceededError"] in local
    assert ["part after abort", "raised", "NoSuchUploadError"] in local
    assert ["complete after abort", "raised", "NoSuchUploadError"] in local
