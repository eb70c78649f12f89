"""The legacy /result body built in place equals the straightforward encoding, byte for byte."""

from __future__ import annotations

import base64
import json

import pytest

from shared.api.legacy_body import _PIECE, legacy_result_response
from shared.http import HttpResponse
from shared.models import JobStatus, LegacyResult


def _result() -> LegacyResult:
    return LegacyResult(job_id="0f" * 16, status=JobStatus.COMPLETED, mime_type="audio/wav")


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, _PIECE - 1, _PIECE, _PIECE + 1, 3 * _PIECE + 2])
def test_body_matches_b64encode_then_json(size: int) -> None:
    audio = bytes(range(256)) * (size // 256) + bytes(size % 256)
    expected = _result()
    expected.base64_audio = base64.b64encode(audio).decode("ascii")

    response = legacy_result_response(_result(), audio)

    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    assert bytes(response.body) == HttpResponse.json(200, expected.to_json_dict()).body
    assert base64.b64decode(json.loads(response.body)["base64Audio"]) == audio
