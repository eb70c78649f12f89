"""R2's multipart rules, as the local bucket (and the unit tests' fakes) enforce them.

The numbers are ``R2_MULTIPART_*`` and ``R2_MAX_OBJECT_BYTES`` (shared/platform_limits.py):
part numbers 1..10,000; a part at most 4.995 GiB; on ``complete``, the parts
named must have been uploaded with exactly those ETags, every part but the
last at least 5 MiB and all of them the same size, the last no larger than
the others; the object at most 4.995 TiB. A part's ETag is the MD5 of its
bytes, the object's the MD5 of the parts' binary MD5s joined, then ``-<count>``
(R2 since June 2023, as S3). Part numbers must ascend, as S3 requires of a
``CompleteMultipartUpload`` (R2 accepts them in any order: stricter here is safe).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from itertools import pairwise

from shared.errors import InvalidPartError, LimitExceededError
from shared.platform_limits import (
    R2_MAX_OBJECT_BYTES,
    R2_MULTIPART_MAX_PART_BYTES,
    R2_MULTIPART_MAX_PARTS,
    R2_MULTIPART_MIN_PART_BYTES,
)
from shared.ports import UploadedPart

__all__ = ["check_completion", "check_part", "multipart_etag"]


def check_part(part_number: int, size: int) -> None:
    """What ``uploadPart`` refuses at once: a part number outside 1..10,000, a part over 4.995 GiB."""
    if not isinstance(part_number, int) or not 1 <= part_number <= R2_MULTIPART_MAX_PARTS:
        raise LimitExceededError(f"R2 part number {part_number!r} must be 1..{R2_MULTIPART_MAX_PARTS}")
    if size > R2_MULTIPART_MAX_PART_BYTES:
        raise LimitExceededError(f"R2 part of {size} bytes is over the limit of {R2_MULTIPART_MAX_PART_BYTES} bytes")


def check_completion(parts: Sequence[UploadedPart], uploaded: dict[int, tuple[int, str]]) -> None:
    """Check a ``complete`` call's part list against what was uploaded (part number -> (size, etag))."""
    if not parts:
        raise LimitExceededError("R2 complete needs at least one part")
    if len(parts) > R2_MULTIPART_MAX_PARTS:
        raise LimitExceededError(f"R2 complete of {len(parts)} parts, over the limit of {R2_MULTIPART_MAX_PARTS}")
    numbers = [p.part_number for p in parts]
    if any(b <= a for a, b in pairwise(numbers)):
        raise InvalidPartError(f"R2 complete: part numbers must ascend without repeats, got {numbers[:20]}")
    sizes = []
    for part in parts:
        found = uploaded.get(part.part_number)
        if found is None or found[1] != part.etag:
            raise InvalidPartError(
                f"R2 complete: part {part.part_number} with ETag {part.etag!r} was not uploaded "
                f"({'no such part' if found is None else 'its ETag is ' + repr(found[1])})"
            )
        sizes.append(found[0])
    for number, size in zip(numbers[:-1], sizes[:-1]):
        if size < R2_MULTIPART_MIN_PART_BYTES:
            raise LimitExceededError(
                f"R2 part {number} is {size} bytes; every part but the last must be at least "
                f"{R2_MULTIPART_MIN_PART_BYTES} bytes (5 MiB)"
            )
    if len(sizes) > 1:
        first = sizes[0]
        for number, size in zip(numbers[1:-1], sizes[1:-1]):
            if size != first:
                raise LimitExceededError(
                    f"R2 part {number} is {size} bytes but part {numbers[0]} is {first}: every part but the last "
                    "must be the same size"
                )
        if sizes[-1] > first:
            raise LimitExceededError(
                f"R2 last part ({sizes[-1]} bytes) is larger than the others ({first} bytes)"
            )
    if sum(sizes) > R2_MAX_OBJECT_BYTES:
        raise LimitExceededError(f"R2 object of {sum(sizes)} bytes is over the limit of {R2_MAX_OBJECT_BYTES}")


def part_etag(data: bytes | bytearray | memoryview) -> str:
    return hashlib.md5(data).hexdigest()


def multipart_etag(part_etags: Sequence[str]) -> str:
    """The completed object's ETag: MD5 of the parts' binary MD5s, ``-<count>``."""
    joined = b"".join(bytes.fromhex(e) for e in part_etags)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_etags)}"
