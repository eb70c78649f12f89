from __future__ import annotations

import pytest

from shared.api.ranges import UnsatisfiableRange, parse_range
from shared.ports import ByteRange


@pytest.mark.parametrize(
    "header,expected",
    [
        (None, None),
        ("bytes=0-9", ByteRange(0, 10)),
        ("bytes=90-", ByteRange(90, 10)),
        ("bytes=-5", ByteRange(95, 5)),
        ("bytes=-500", ByteRange(0, 100)),
        ("bytes=95-1000", ByteRange(95, 5)),
        ("items=0-9", None),  # unknown unit: whole object
        ("bytes=0-1,5-6", None),  # several ranges: whole object
    ],
)
def test_parse_range(header: str | None, expected: ByteRange | None) -> None:
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-200", "bytes=-0", "bytes=9-3", "bytes=abc", "bytes=+1-+2"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 100)
