"""Trust features in real Pyodide: signed links through the api Worker, the
Rate Limiting adapter's JS conversions, webhook signing with Pyodide's
hashlib/hmac, and a webhook POST through ``fetch`` that never follows a redirect.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from pyodide_harness import Harness
from test_pipeline_workers import AUTH, api, completed  # noqa: F401 - the api fixture starts the Workers

sys.path.insert(0, str(Path(__file__).parents[2]))

from shared.security.signing import webhook_headers, webhook_secret  # noqa: E402
from tests.integration.webhook_receiver import Receiver, receiving  # noqa: E402

SIGNING_KEY = "pyodide-tier-signing-key-0123456789abcdef"  # as test_pipeline_workers gives the api Worker


def test_signed_audio_url_needs_no_token_and_refuses_tampering(harness: Harness, api: str) -> None:
    job = completed(harness, text="signed in pyodide")
    parts = urlsplit(job["audioUrl"])
    assert "signature=" in parts.query
    public = harness.fetch(api, f"{parts.path}?{parts.query}")
    owner = harness.fetch(api, parts.path, headers=AUTH)
    assert public.status == 200 and public.body == owner.body
    tampered = harness.fetch(api, f"{parts.path}?{parts.query[:-2]}xx")
    assert tampered.status == 403 and tampered.json()["error"]["code"] == "invalid_signature"
    assert harness.fetch(api, parts.path).status == 401


def test_unsafe_webhook_urls_are_refused_by_the_api_worker(harness: Harness, api: str) -> None:
    for url in ("http://hooks.example.com/", "https://127.0.0.1/", "https://169.254.169.254/"):
        reply = harness.fetch(api, "/v1/jobs", method="POST", json_body={"text": "hi", "webhookUrl": url}, headers=AUTH)
        assert reply.status == 422 and reply.json()["error"]["field"] == "webhookUrl", url


def test_rate_limiter_adapter_speaks_the_bindings_shape(harness: Harness, api: str) -> None:
    # A JS object shaped like env.JOB_RATE_LIMITER: limit({key}) -> Promise<{success}>.
    outcome = harness.run_python(
        api,
        """
from js import Object, Promise
from pyodide.ffi import create_proxy, to_js
from cloudflare_adapters.ratelimit import WorkersRateLimiter

seen = []
def limit(options):
    seen.append(options.key)
    return Promise.resolve(to_js({"success": len(seen) <= 2}, dict_converter=Object.fromEntries))

binding = Object.fromEntries(to_js([["limit", create_proxy(limit)]]))
limiter = WorkersRateLimiter(binding, 60)
decisions = [await limiter.limit("jobs:alice") for _ in range(3)]
[seen, [[d.allowed, d.retry_after] for d in decisions]]
""",
    )
    assert outcome == [["jobs:alice"] * 3, [[True, 0], [True, 0], [False, 60]]]


def test_webhook_signatures_match_cpython(harness: Harness, api: str) -> None:
    body = '{"type":"job.completed","data":{"jobId":"' + "a" * 32 + '"}}'
    in_pyodide = harness.run_python(
        api,
        f"""
from shared.security.signing import webhook_headers, webhook_secret
secret = webhook_secret({SIGNING_KEY!r}, "alice")
[secret, webhook_headers([secret], "msg_x", 1700000000, {body!r}.encode())]
""",
    )
    secret = webhook_secret(SIGNING_KEY, "alice")
    assert in_pyodide == [secret, webhook_headers([secret], "msg_x", 1_700_000_000, body.encode())]


@pytest.fixture(scope="module")
def receiver() -> Any:
    with receiving(Receiver(script={"/moved": [302]})) as r:
        yield r


def test_a_webhook_post_through_fetch_is_signed_and_never_follows_redirects(
    harness: Harness, api: str, receiver: Receiver
) -> None:
    code = f"""
from shared.security.signing import webhook_headers, webhook_secret
from cloudflare_adapters.fetch import FetchHttpClient
body = b'{{"type":"job.completed"}}'
headers = {{"content-type": "application/json",
           **webhook_headers([webhook_secret({SIGNING_KEY!r}, "alice")], "msg_p", 1700000000, body)}}
client = FetchHttpClient(max_response_bytes=65536, redirect="manual")
ok = await client.request("POST", {receiver.url("/ok")!r}, headers=headers, body=body, timeout=10)
moved = await client.request("POST", {receiver.url("/moved")!r}, headers=headers, body=body, timeout=10)
[ok.status, moved.status]
"""
    assert harness.run_python(api, code) == [204, 302]
    [delivery] = receiver.at("/ok")
    assert json.loads(delivery.body) == {"type": "job.completed"}
    assert delivery.headers["webhook-signature"] == webhook_headers(
        [webhook_secret(SIGNING_KEY, "alice")], "msg_p", 1_700_000_000, delivery.body
    )["webhook-signature"]
    assert receiver.at("/redirected") == []


def test_an_oversized_body_is_413_in_the_api_worker(harness: Harness, api: str) -> None:
    big = json.dumps({"text": "a" * 700_000})
    reply = harness.fetch(api, "/v1/jobs", method="POST", body=big, headers={**AUTH, "content-type": "application/json"})
    assert reply.status == 413 and reply.json()["error"]["code"] == "body_too_large"
