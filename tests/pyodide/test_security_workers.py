"""A webhook POST through ``fetch`` in Pyodide that is signed and never follows a redirect.

Signed links, the rate limiter binding, webhook signatures and body limits are
proven on workerd by tests/integration (test_security.py runs on both
runtimes); the redirect refusal needs a receiver that answers 30x on cue,
which this harness drives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from pyodide_harness import Harness
from test_pipeline_workers import AUTH, api, completed  # noqa: F401 - the api fixture starts the Workers

sys.path.insert(0, str(Path(__file__).parents[2]))

from shared.security.signing import webhook_headers, webhook_secret  # noqa: E402
from tests.integration.webhook_receiver import Receiver, receiving  # noqa: E402

SIGNING_KEY = "pyodide-tier-signing-key-0123456789abcdef"  # as test_pipeline_workers gives the api Worker


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


