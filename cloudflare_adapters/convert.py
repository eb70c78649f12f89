"""Explicit conversions between Python values and JS values."""

from __future__ import annotations

from typing import Any

from js import Object, Uint8Array
from pyodide.ffi import JsProxy, jsnull, to_js


def raw_binding(binding: Any) -> Any:
    """The JS object behind a ``workers`` SDK wrapper (or the object itself).

    A JS object is returned as it is: an RPC stub (a service binding) answers
    every attribute, ``_binding`` included, with a method stub."""
    if isinstance(binding, JsProxy):
        return binding
    return getattr(binding, "_binding", None) or getattr(binding, "_env", None) or binding


def to_js_value(value: Any) -> Any:
    """Python JSON-like value -> JS (dicts become plain objects, None becomes null)."""
    return to_js(_nulls(value), dict_converter=Object.fromEntries)


def _nulls(value: Any) -> Any:
    if value is None:
        return jsnull
    if isinstance(value, dict):
        return {k: _nulls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls(v) for v in value]
    return value


def from_js_value(value: Any) -> Any:
    """JS value -> Python JSON-like value (null and undefined become None)."""
    if value is None or value is jsnull:
        return None
    if isinstance(value, JsProxy):
        return _clean(value.to_py())
    return value


def _clean(value: Any) -> Any:
    if value is jsnull:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def bytes_to_js(data: bytes | bytearray) -> Any:
    """bytes -> a JS Uint8Array (one copy into the JS heap)."""
    array = Uint8Array.new(len(data))
    array.assign(data)
    return array


async def array_buffer_to_bytes(buffer: Any) -> bytes:
    """A JS ArrayBuffer (or a promise of one) -> bytes (one copy out of the JS heap).

    ``to_bytes`` copies once; ``bytes(buffer.to_py())`` would copy twice (into
    a memoryview's buffer, then into the bytes), doubling the peak for a
    20 MB object (tests/pyodide/audio_paths.py).
    """
    if hasattr(buffer, "then"):
        buffer = await buffer
    if hasattr(buffer, "to_bytes"):
        return bytes(buffer.to_bytes())
    return bytes(buffer.to_py()) if hasattr(buffer, "to_py") else bytes(buffer)
