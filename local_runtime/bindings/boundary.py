"""What may cross Cloudflare's RPC and queue boundaries, checked locally.

On Cloudflare, Durable Object RPC arguments and results go through the
Python SDK's ``python_to_rpc`` / ``python_from_rpc`` and queue bodies are
serialized; only plain JSON-like values survive (dict with str keys, list,
str, int, float, bool, None). In plain CPython nothing stops a tuple, bytes
or a model object from being passed, so code that works locally could break
in production. These checks refuse such values with a message naming the
offending path, and return a deep copy so caller and callee never share
mutable state (as with real RPC, where each side gets its own copy).

The check is one walk that copies the containers as it goes (scalars are
immutable: shared; a value passed with ``copy=False`` is walked without
copying) and bounds the value's compact JSON size from above; the
value is encoded to measure it exactly only when that bound is over the cap,
and the walk that names the offending path runs only once a value has been
refused. Same rules, same messages, without the JSON round trip.

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
from shared.platform_limits import QUEUE_MAX_MESSAGE_BYTES

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


class _Refused(Exception):
    """A value the fast walk will not pass: ``_check`` then says where and why."""


_FLOAT_BOUND = 24  # the longest float repr: '-2.2250738585072014e-308'
_NONE = type(None)


def _scalar_bound(value: Any, kind: type) -> int:
    """The compact JSON size bound of a scalar (a character takes at most 6 bytes: ``\\u001f``);
    -1 when ``value`` is not an allowed scalar."""
    if kind is str:
        return 6 * len(value) + 2
    if kind is int:
        return int(value.bit_length()) // 3 + 2
    if kind is float:
        return _FLOAT_BOUND if math.isfinite(value) else -1
    if kind is bool or kind is _NONE:
        return 5
    return -1


def _copy(value: Any, copy: bool) -> tuple[Any, int]:
    """``value`` with its dicts and lists copied (``copy``) or itself, and an upper bound of
    its compact JSON size in UTF-8 bytes. Raises ``_Refused``."""
    kind = type(value)
    if kind is dict or kind is list:
        return _copy_container(value) if copy else (value, _bound(value))
    n = _scalar_bound(value, kind)
    if n < 0:
        raise _Refused
    return value, n


def _copy_container(value: Any) -> tuple[Any, int]:
    """A copy of a dict or list (its dicts and lists copied too) and its size bound. Scalars
    are handled in the loops, the common ones inline (``_scalar_bound`` says the same)."""
    size = 2
    if type(value) is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Refused
            item_kind = type(item)
            if item_kind is str:
                n = 6 * len(item) + 2
            elif item_kind is dict or item_kind is list:
                item, n = _copy_container(item)
            elif item_kind is _NONE or item_kind is bool:
                n = 5
            else:
                n = _scalar_bound(item, item_kind)
                if n < 0:
                    raise _Refused
            out[key] = item
            size += 6 * len(key) + 4 + n  # "key": and a comma
        return out, size
    items: list[Any] = []
    for item in value:
        item_kind = type(item)
        if item_kind is str:
            n = 6 * len(item) + 2
        elif item_kind is dict or item_kind is list:
            item, n = _copy_container(item)
        else:
            n = _scalar_bound(item, item_kind)
            if n < 0:
                raise _Refused
        items.append(item)
        size += n + 1
    return items, size


def _bound(value: Any) -> int:
    """``_copy_container``'s size bound and checks, copying nothing."""
    size = 2
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _Refused
            item_kind = type(item)
            if item_kind is str:
                size += 6 * (len(key) + len(item)) + 6
                continue
            if item_kind is dict or item_kind is list:
                n = _bound(item)
            elif item_kind is _NONE or item_kind is bool:
                n = 5
            else:
                n = _scalar_bound(item, item_kind)
                if n < 0:
                    raise _Refused
            size += 6 * len(key) + 4 + n
        return size
    for item in value:
        item_kind = type(item)
        if item_kind is str:
            n = 6 * len(item) + 2
        elif item_kind is dict or item_kind is list:
            n = _bound(item)
        else:
            n = _scalar_bound(item, item_kind)
            if n < 0:
                raise _Refused
        size += n + 1
    return size


def encoded_size(value: Any) -> int:
    """Size in bytes of ``value`` as compact UTF-8 JSON (how limits are measured)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def check_rpc_value(value: Any, *, what: str, max_bytes: int | None, copy: bool = True) -> Any:
    """Check that ``value`` may cross an RPC boundary and return a deep copy of it.

    ``what`` names the value in error messages (``payload`` gives paths like
    ``payload.record.tags[2]``). ``max_bytes`` caps its compact JSON size, or
    ``None`` for no cap. Raises ``BoundaryError`` on a disallowed type, a
    non-str dict key, a cycle, or an oversize value. ``copy=False`` returns
    ``value`` itself, checked: for a value its maker keeps no reference to
    (a reply built afresh for the call), where a copy could be shared with no one.
    """
    try:
        copied, bound = _copy(value, copy)
    except (_Refused, RecursionError):
        # Say where (and find cycles, which the fast walk only meets as recursion).
        try:
            _check(value, what, set())
        except RecursionError as exc:
            raise BoundaryError(f"{what}: value is nested too deeply") from exc
        raise BoundaryError(f"{what}: value is nested too deeply") from None
    if max_bytes is not None and bound > max_bytes:
        size = encoded_size(value)
        if size > max_bytes:
            raise BoundaryError(f"{what}: {size} bytes as JSON, over the limit of {max_bytes} bytes")
    return copied


def check_queue_body(body: Any) -> Any:
    """Check a queue message body (types; its size measured as compact JSON) and return a deep copy of it."""
    return check_rpc_value(body, what="body", max_bytes=QUEUE_MAX_MESSAGE_BYTES)
