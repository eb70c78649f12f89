"""The legacy ``/result`` body, built with as few copies of the audio as a JSON body allows.

``{"jobId", "status", "base64Audio", "mimeType"}`` holds the whole audio as
base64. Building it the obvious way (``b64encode`` -> ``decode`` -> a dict ->
``json.dumps`` -> ``encode``) keeps about four copies of the audio alive at
once. Here the base64 is written piece by piece straight into the body's
buffer, which is the only copy that outlives the call: at the peak the
audio (which the caller read from R2) plus the body, 2.33 times the audio.
"""

from __future__ import annotations

import binascii
import json

from shared.http import Headers, HttpResponse
from shared.models import LegacyResult

_PIECE = 3 * 64 * 1024  # a multiple of 3, so the pieces' base64 concatenates without padding
_EMPTY_AUDIO = b'"base64Audio":""'


def legacy_result_response(result: LegacyResult, audio: bytes) -> HttpResponse:
    """``200`` with ``result`` as JSON and ``audio`` as its ``base64Audio``."""
    data = result.to_json_dict()
    data["base64Audio"] = ""
    text = json.dumps(data, separators=(",", ":")).encode()
    head, found, tail = text.partition(_EMPTY_AUDIO)
    if not found:  # pragma: no cover - to_json_dict always has the key
        raise ValueError("legacy result has no base64Audio field")
    head += b'"base64Audio":"'
    tail = b'"' + tail
    encoded = 4 * -(-len(audio) // 3)
    body = bytearray(len(head) + encoded + len(tail))
    body[: len(head)] = head
    position = len(head)
    view = memoryview(audio)
    for start in range(0, len(audio), _PIECE):
        piece = binascii.b2a_base64(view[start : start + _PIECE], newline=False)
        body[position : position + len(piece)] = piece
        position += len(piece)
    body[position:] = tail
    return HttpResponse(status=200, headers=Headers({"Content-Type": "application/json"}), body=body)
