"""What may cross RPC and queue boundaries (local_runtime.bindings.boundary)."""

from __future__ import annotations

import enum

import pytest

from local_runtime.bindings.boundary import check_queue_body, check_rpc_value, encoded_size
from shared.errors import BoundaryError
from shared.platform_limits import QUEUE_MAX_MESSAGE_BYTES


def test_plain_values_pass_and_come_back_as_a_deep_copy() -> None:
    value = {"a": [1, 2.5, "x", True, None, {"b": []}], "c": {}}
    copy = check_rpc_value(value, what="payload", max_bytes=None)
    assert copy == value
    assert copy is not value
    copy["a"][5]["b"].append(1)
    assert value["a"][5]["b"] == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"record": {"tags": ["a", "b", (1, 2)]}}, "payload.record.tags[2]: tuple is not allowed"),
        ({"data": b"abc"}, "payload.data: bytes is not allowed"),
        ({"data": bytearray(b"x")}, "payload.data: bytearray is not allowed"),
        ([{1, 2}], "payload[0]: set is not allowed"),
        ({"when": object()}, "payload.when: object is not allowed"),
        ({"odd key": (1,)}, 'payload["odd key"]: tuple is not allowed'),
        ({"x": float("nan")}, "payload.x: float nan is not allowed (not finite)"),
        ({3: "x"}, "payload: key 3 is a int, only str keys are allowed"),
    ],
)
@pytest.mark.parametrize("copy", [True, False])
def test_disallowed_values_name_their_path(value: object, message: str, copy: bool) -> None:
    with pytest.raises(BoundaryError) as caught:
        check_rpc_value(value, what="payload", max_bytes=None, copy=copy)
    assert str(caught.value) == message


@pytest.mark.parametrize("copy", [True, False])
def test_subclasses_of_allowed_types_are_refused(copy: bool) -> None:
    class Color(str, enum.Enum):
        RED = "red"

    for value in ({"color": Color.RED}, {"color": [Color.RED]}):
        with pytest.raises(BoundaryError, match=r"payload\.color.*: Color is not allowed"):
            check_rpc_value(value, what="payload", max_bytes=None, copy=copy)


@pytest.mark.parametrize("copy", [True, False])
def test_cycles_are_refused(copy: bool) -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(BoundaryError, match="circular"):
        check_rpc_value(loop, what="payload", max_bytes=None, copy=copy)


def test_the_same_list_twice_is_not_a_cycle() -> None:
    shared = [1]
    assert check_rpc_value([shared, shared], what="v", max_bytes=None) == [[1], [1]]


def test_size_is_measured_as_compact_utf8_json() -> None:
    assert encoded_size({"a": "é"}) == len('{"a":"é"}'.encode())
    check_rpc_value("x" * 8, what="v", max_bytes=10)  # '"xxxxxxxx"' is 10 bytes
    with pytest.raises(BoundaryError, match="v: 11 bytes as JSON, over the limit of 10 bytes"):
        check_rpc_value("x" * 9, what="v", max_bytes=10)


def test_queue_body_limit_is_128_kb() -> None:
    fits = {"t": "x" * (QUEUE_MAX_MESSAGE_BYTES - len('{"t":""}'))}
    assert check_queue_body(fits) == fits
    with pytest.raises(BoundaryError, match="^body: 128001 bytes"):
        check_queue_body({"t": fits["t"] + "x"})
    with pytest.raises(BoundaryError, match=r"^body\.ids\[0\]: tuple"):
        check_queue_body({"ids": [("a",)]})


@pytest.mark.parametrize("copy", [True, False])
def test_the_size_bound_never_passes_what_the_exact_size_refuses(copy: bool) -> None:
    # Worst cases for the bound: escapes (6 bytes a character), 4-byte characters, long numbers.
    for value in ({"k\x01": "\x1f" * 50}, ["😀" * 40], [2**200, -(2**70)], [-2.2250738585072014e-308] * 5,
                  {"a": [True, False, None, {}]}):
        size = encoded_size(value)
        assert check_rpc_value(value, what="v", max_bytes=size, copy=copy) == value
        with pytest.raises(BoundaryError, match=f"v: {size} bytes as JSON, over the limit of {size - 1} bytes"):
            check_rpc_value(value, what="v", max_bytes=size - 1, copy=copy)


def test_without_a_copy_the_value_itself_comes_back_checked() -> None:
    value = {"a": [1]}
    assert check_rpc_value(value, what="reply", max_bytes=None, copy=False) is value
    with pytest.raises(BoundaryError, match=r"reply\.a\[0\]: tuple is not allowed"):
        check_rpc_value({"a": [(1,)]}, what="reply", max_bytes=None, copy=False)


def test_deep_nesting_is_refused_as_before() -> None:
    deep: list[object] = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(BoundaryError, match="nested too deeply"):
        check_rpc_value(deep, what="payload", max_bytes=None)
