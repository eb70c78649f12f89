"""POST /v1/jobs refuses deeply nested JSON before parsing it.

Found on workerd: ``[`` x 300,000 made CPython's parser raise RecursionError
(a 400), but in Pyodide it overflowed the wasm stack and killed the api
Worker's isolate (workerd answered 500 "Network connection lost"). A job body
is flat, so nesting is capped far below any parser's stack.
"""

from __future__ import annotations

import json

import pytest

from shared.api.jobs import MAX_JSON_DEPTH, json_depth
from shared.http import HttpRequest
from tests.unit.api.test_api_models_and_limits import TOKEN, app


async def post(raw: bytes) -> tuple[int, dict]:
    api, _ = app()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    reply = await api.handle(HttpRequest.build("POST", "/v1/jobs", headers=headers, body=raw, base_url="https://api.test"))
    return reply.status, json.loads(reply.body)


@pytest.mark.parametrize(
    "text,depth",
    [
        ("{}", 1),
        ('{"text": "hi", "webhookEvents": ["job.completed"]}', 2),
        ('{"text": "[[[[{{{{"}', 1),  # brackets inside strings do not count
        ('{"text": "a\\"[[["}', 1),  # nor after an escaped quote
        ("[" * 50 + "]" * 50, 50),
        ("5", 0),
    ],
)
def test_depth_counts_only_structure(text: str, depth: int) -> None:
    assert json_depth(text.encode()) == depth


async def test_nesting_past_the_cap_is_a_400_naming_it() -> None:
    status, body = await post(b'{"text": ' + b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1) + b"}")
    assert status == 400
    assert body["error"]["code"] == "invalid_json" and "nested" in body["error"]["message"]


async def test_hundreds_of_thousands_of_brackets_are_a_400() -> None:
    status, body = await post(b"[" * 300_000 + b"]" * 300_000)
    assert status == 400 and "nested" in body["error"]["message"]
