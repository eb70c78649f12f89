"""What may cross Cloudflare's RPC and queue boundaries, checked locally.

On Cloudflare, Durable Object RPC arguments and results go through the
Python SDK's ``python_to_rpc`` / ``python_from_rpc`` and queue bodies are
serialized; only plain JSON-like values survive (dict with str keys, list,
str, int, float, bool, None). In plain CPython nothing stops a tuple, bytes
or a model object from being passed, so code that works locally could break
in production. These checks refuse such values with a message naming the
offending path, and return a deep copy so caller and callee never share
mutable state (as with real RPC, where each side gets its own copy).

Only the exact types are accepted: subclasses (``StrEnum`` members, pydantic
types, ``bool`` aside) are refused, because whether they survive the JS
conversion unchanged is not something to rely on. Non-finite floats are
refused too: they are not valid JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

from shared.errors import BoundaryError

QUEUE_BODY_MAX_BYTES = 128_000
"""Cloudflare Queues message size limit (128 KB), measured as compact JSON."""

_SCALARS = (str, int, float, bool, type(None))


def _key_path(path: str, key: str) -> str:
    if key.isidentifier():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _check(value: Any, path: str, active: set[int]) -> None:
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):
            raise BoundaryError(f"{path}: float {value!r} is not allowed (not finite)")
        return
    if kind is dict:
        marker = id(value)
        if marker in active:
            raise BoundaryError(f"{path}: circular reference is not allowed")
        active.add(marker)
        for key, item in value.items():
            if type(key) is not str:
                raise BoundaryError(
                    f"{path}: key {key!r} is a {type(key).__name__}, only str keys are allowed"
                )
            _check(item, _key_path(path, key), active)
        active.discard(marker)
        return
    if kind is list:
        marker = id(value)
        if marker in active:
            raise BoundaryError(f"{path}: circular reference is not allowed")
        active.add(marker)
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]", active)
        active.discard(marker)
        return
    raise BoundaryError(f"{path}: {kind.__name__} is not allowed")


def encoded_size(value: Any) -> int:
    """Size in bytes of ``value`` as compact UTF-8 JSON (how limits are measured)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_rpc_value(value: Any, *, what: str, max_bytes: int | None) -> Any:
    """Check that ``value`` may cross an RPC boundary and return a deep copy of it.

    ``what`` names the value in error messages (``payload`` gives paths like
    ``payload.record.tags[2]``). ``max_bytes`` caps its compact JSON size, or
    ``None`` for no cap. Raises ``BoundaryError`` on a disallowed type, a
    non-str dict key, a cycle, or an oversize value.
    """
    try:
        _check(value, what, set())
    except RecursionError as exc:
        raise BoundaryError(f"{what}: value is nested too deeply") from exc
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    if max_bytes is not None:
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            raise BoundaryError(f"{what}: {size} bytes as JSON, over the limit of {max_bytes} bytes")
    return json.loads(text)


def check_queue_body(body: Any) -> Any:
    """Check a queue message body (types, 128 KB) and return a deep copy of it."""
    return check_rpc_value(body, what="body", max_bytes=QUEUE_BODY_MAX_BYTES)
