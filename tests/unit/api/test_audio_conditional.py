"""GET /v1/jobs/{id}/audio against RFC 9110: weak If-None-Match, If-Range, multi-range, strict range syntax.

Multi-range choice: a valid ``Range`` with several ranges is answered ``200`` with the
whole audio (RFC 9110 14.2 lets a server ignore Range); ``416`` if none of them is
satisfiable. A range that is not valid ``bytes=`` syntax is ``416`` (RFC 9110 14.2:
invalid ranges SHOULD get 416); an unknown range unit is ignored (MUST).
"""

from __future__ import annotations

import json

import pytest

from shared.api.app import ApiApp
from shared.http import HttpRequest, HttpResponse
from tests.unit.api.test_api_models_and_limits import TOKEN, app
from tests.unit.api.test_legacy_result_cap import completed_job

SIZE = 100
AUDIO = b"\x01" * SIZE


async def audio(api: ApiApp, job_id: str, **headers: str) -> tuple[HttpResponse, bytes]:
    sent = {"Authorization": f"Bearer {TOKEN}", **{k.replace("_", "-"): v for k, v in headers.items()}}
    reply = await api.handle(HttpRequest.build("GET", f"/v1/jobs/{job_id}/audio", headers=sent, base_url="https://api.test"))
    body = await reply.blob.read() if reply.blob is not None else reply.body
    return reply, body


@pytest.fixture
async def job() -> tuple[ApiApp, str, str]:
    api, shards = app()
    job_id = await completed_job(api, shards, SIZE)
    reply, _ = await audio(api, job_id)
    return api, job_id, reply.headers["ETag"]


async def test_weak_if_none_match_gives_304(job: tuple[ApiApp, str, str]) -> None:
    api, job_id, etag = job
    for header in (etag, f"W/{etag}", f'"other", W/{etag}', f'W/"x",{etag}', "*"):
        reply, body = await audio(api, job_id, If_None_Match=header)
        assert reply.status == 304, header
        assert reply.headers["ETag"] == etag and "Cache-Control" in reply.headers and body == b""


async def test_if_none_match_with_other_tags_serves_the_audio(job: tuple[ApiApp, str, str]) -> None:
    api, job_id, etag = job
    for header in ('"other"', 'W/"other"', etag[:-1], f"X/{etag}", "garbage"):
        reply, body = await audio(api, job_id, If_None_Match=header)
        assert (reply.status, body) == (200, AUDIO), header


async def test_if_range_with_the_current_strong_etag_honours_the_range(job: tuple[ApiApp, str, str]) -> None:
    api, job_id, etag = job
    reply, body = await audio(api, job_id, Range="bytes=10-19", If_Range=etag)
    assert reply.status == 206 and reply.headers["Content-Range"] == f"bytes 10-19/{SIZE}" and len(body) == 10


@pytest.mark.parametrize("if_range", ['"changed"', "W/{etag}", "Wed, 21 Oct 2015 07:28:00 GMT", "nonsense"])
async def test_if_range_that_does_not_match_strongly_sends_the_whole_audio(
    job: tuple[ApiApp, str, str], if_range: str
) -> None:
    api, job_id, etag = job
    reply, body = await audio(api, job_id, Range="bytes=10-19", If_Range=if_range.format(etag=etag))
    assert (reply.status, body) == (200, AUDIO)
    assert "Content-Range" not in reply.headers and reply.headers["Content-Length"] == str(SIZE)


async def test_if_range_without_range_is_ignored(job: tuple[ApiApp, str, str]) -> None:
    api, job_id, _ = job
    reply, body = await audio(api, job_id, If_Range='"changed"')
    assert (reply.status, body) == (200, AUDIO)


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=0-1, 5-6", "bytes=-5,0-0", "bytes=0-1,200-300", "bytes=1-2,,3-4"])
async def test_several_ranges_are_answered_with_the_whole_audio(job: tuple[ApiApp, str, str], header: str) -> None:
    api, job_id, _ = job
    reply, body = await audio(api, job_id, Range=header)
    assert (reply.status, body) == (200, AUDIO) and "multipart" not in reply.headers["Content-Type"]


async def test_several_ranges_none_satisfiable_is_416(job: tuple[ApiApp, str, str]) -> None:
    api, job_id, _ = job
    reply, _ = await audio(api, job_id, Range="bytes=100-200,300-")
    assert reply.status == 416 and reply.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    ["bytes=+1-+2", "bytes=1-+2", "bytes=-+5", "bytes=+5-", "bytes= 1-2", "bytes=1 -2", "bytes=1- 2", "bytes=1_0-2_0",
     "bytes=\u0661-\u0662", "bytes=0x1-0x2", "bytes=1.0-2", "bytes=abc", "bytes=-", "bytes=", "bytes=,", "bytes=9-3",
     "bytes=1-2,x", "bytes=1-2;3-4", "bytes=--1", "bytes=1-2-3", "bytes=-1-", "bytes=0-1,+2-3"],
)
async def test_invalid_range_syntax_is_a_416_json_error(job: tuple[ApiApp, str, str], header: str) -> None:
    api, job_id, _ = job
    reply, body = await audio(api, job_id, Range=header)
    assert reply.status == 416, header
    assert json.loads(body)["error"]["code"] == "range_not_satisfiable"


@pytest.mark.parametrize("header", ["items=0-9", "pages=+1-+2", "none", "bytes 1-2", "bytes =1-2"])
async def test_an_unknown_range_unit_is_ignored(job: tuple[ApiApp, str, str], header: str) -> None:
    api, job_id, _ = job
    reply, body = await audio(api, job_id, Range=header)
    assert (reply.status, body) == (200, AUDIO)


@pytest.mark.parametrize(
    "header,content_range",
    [("bytes=0-9", "0-9"), ("BYTES=0-9", "0-9"), ("bytes=90-", "90-99"), ("bytes=-5", "95-99"),
     ("bytes=95-1000", "95-99"), ("bytes=0-0", "0-0"), ("bytes=-500", "0-99"), ("bytes=007-008", "7-8"),
     # RFC 9110 5.6.1: empty list elements are ignored
     ("bytes=1-2,", "1-2"), ("bytes=, 1-2", "1-2"), ("bytes=0-" + "9" * 40, "0-99")],
)
async def test_valid_single_ranges_are_206(job: tuple[ApiApp, str, str], header: str, content_range: str) -> None:
    api, job_id, _ = job
    reply, body = await audio(api, job_id, Range=header)
    assert reply.status == 206 and reply.headers["Content-Range"] == f"bytes {content_range}/{SIZE}"
    first, last = (int(n) for n in content_range.split("-"))
    assert len(body) == last - first + 1
