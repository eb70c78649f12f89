"""The client against a scripted fake API: retries, timeouts, error bodies, where the token goes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest

from tests.fake_api import Canned, FakeApi, FakeTime, job_json, serve
from tts_client import ApiError, Backoff, Client, JobStatus, TransportError, WaitTimeoutError
from tts_client.calls import audio_url

JOB = "a" * 32
PATH = f"/v1/jobs/{JOB}"


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve(FakeApi()) as running:
        yield running


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


def client_for(api: FakeApi, time_: FakeTime, token: str | None = "secret") -> Client:
    return Client(api.url, token, clock=time_.clock, sleep=time_.sleep)


STEADY = Backoff(initial=1, factor=2, max_delay=4, random=lambda: 1.0)


def test_wait_long_polls_and_asks_again_at_once_after_a_change(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "queued")), Canned.json(200, job_json(JOB, "processing")),
           Canned.json(200, job_json(JOB, "completed")))
    done = client_for(api, time_).wait(JOB, timeout=60, backoff=STEADY)
    assert done.status is JobStatus.COMPLETED
    assert [s.path for s in api.seen] == [f"{PATH}?wait=25"] * 3
    assert time_.slept == []  # the server held each answer: no sleeping between them


def test_wait_polls_a_server_without_long_poll(api: FakeApi, time_: FakeTime) -> None:
    unknown = Canned.json(400, {"error": {"code": "unknown_query_parameter", "message": "unknown query parameter(s): 'wait'"}})
    api.on("GET", PATH, unknown, Canned.json(200, job_json(JOB, "queued")), Canned.json(200, job_json(JOB, "completed")))
    done = client_for(api, time_).wait(JOB, timeout=60, backoff=STEADY)
    assert done.status is JobStatus.COMPLETED
    assert [s.path for s in api.seen] == [f"{PATH}?wait=25", PATH, PATH]
    assert time_.slept == [1]


def test_an_unchanged_long_poll_answer_backs_off(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, *[Canned.json(200, job_json(JOB, "queued"))] * 2, Canned.json(200, job_json(JOB, "completed")))
    client_for(api, time_).wait(JOB, timeout=60, backoff=STEADY)
    assert time_.slept == [1]  # the second answer came back the same: a busy shard answers at once


def test_wait_backs_off_between_polls_until_the_job_finishes(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, *[Canned.json(200, job_json(JOB, "queued"))] * 2,
           *[Canned.json(200, job_json(JOB, "processing"))] * 3, Canned.json(200, job_json(JOB, "completed")))
    statuses: list[str] = []

    done = client_for(api, time_).wait(
        JOB, timeout=60, backoff=STEADY, on_update=lambda j: statuses.append(j.status.value), long_poll=0
    )

    assert done.status is JobStatus.COMPLETED
    assert statuses == ["queued", "queued", "processing", "processing", "processing", "completed"]
    assert time_.slept == [1, 2, 4, 4, 4]


def test_wait_gives_up_at_the_timeout_with_the_last_view(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "processing")))

    with pytest.raises(WaitTimeoutError) as caught:
        client_for(api, time_).wait(JOB, timeout=10, backoff=STEADY)

    assert caught.value.job is not None and caught.value.job.status is JobStatus.PROCESSING
    assert time_.slept == [1, 2, 4, 3]  # the last sleep is cut to the deadline
    assert time_.now == 10


def test_wait_returns_failed_jobs_rather_than_raising(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "failed", error="provider said no")))
    done = client_for(api, time_).wait(JOB, timeout=10)
    assert done.status is JobStatus.FAILED and done.error == "provider said no"


def test_wait_rides_out_503s_and_honours_retry_after(api: FakeApi, time_: FakeTime) -> None:
    busy = {"error": {"code": "unavailable", "message": "busy"}}
    api.on("GET", PATH, Canned.json(503, busy, {"Retry-After": "7"}), Canned.json(200, job_json(JOB, "completed")))
    done = client_for(api, time_).wait(JOB, timeout=60, backoff=STEADY)
    assert done.status is JobStatus.COMPLETED
    assert time_.slept == [7]


def test_wait_raises_non_transient_errors_at_once(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(403, {"error": {"code": "forbidden", "message": "no"}}))
    with pytest.raises(ApiError) as caught:
        client_for(api, time_).wait(JOB, timeout=60)
    assert caught.value.status == 403 and time_.slept == []


def test_wait_retries_when_the_server_cannot_be_reached(time_: FakeTime) -> None:
    with serve(FakeApi()) as gone:
        url = gone.url  # the port is closed once the server stops
    with pytest.raises(WaitTimeoutError) as caught:
        Client(url, clock=time_.clock, sleep=time_.sleep).wait(JOB, timeout=3, backoff=STEADY)
    assert caught.value.job is None and time_.now == 3


def test_error_body_that_is_not_json_still_becomes_an_api_error(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned(502, b"<html>Bad gateway</html>", {"Content-Type": "text/html"}))
    with pytest.raises(ApiError) as caught:
        client_for(api, time_).get(JOB)
    assert (caught.value.status, caught.value.code) == (502, "http_error")
    assert "Bad gateway" in caught.value.message and caught.value.transient


def test_unreachable_server_is_a_transport_error(time_: FakeTime) -> None:
    with serve(FakeApi()) as gone:
        url = gone.url
    with pytest.raises(TransportError):
        Client(url).get(JOB)


def test_the_token_goes_as_a_bearer_header_and_submit_sends_camel_case(api: FakeApi, time_: FakeTime) -> None:
    api.on("POST", "/v1/jobs", Canned.json(202, job_json(JOB, "queued")))
    client_for(api, time_).submit("hi", model="tone", voice="low", format="wav", idempotency_key="k-1")
    sent = api.seen[-1]
    assert sent.headers["authorization"] == "Bearer secret"
    assert sent.headers["idempotency-key"] == "k-1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == b'{"text": "hi", "model": "tone", "voiceId": "low", "format": "wav"}'


def test_a_signed_audio_link_is_used_as_given_and_never_gets_the_token(api: FakeApi, time_: FakeTime) -> None:
    with serve(FakeApi()) as elsewhere:
        elsewhere.on("GET", "/signed/a.wav", Canned(200, b"RIFFdata", {"Content-Type": "audio/wav"}))
        link = f"{elsewhere.url}/signed/a.wav?exp=1&sig=abc"
        api.on("GET", PATH, Canned.json(200, job_json(JOB, "completed", audioUrl=link, sizeBytes=8)))
        client = client_for(api, time_)
        job = client.get(JOB)
        assert audio_url(job) == link
        out = io.BytesIO()
        info = client.download(job, out)
    assert out.getvalue() == b"RIFFdata" and info.size_bytes == 8
    assert elsewhere.seen[0].path == "/signed/a.wav?exp=1&sig=abc"
    assert "authorization" not in elsewhere.seen[0].headers


def test_an_unsigned_audio_link_goes_through_the_api_path_with_the_token(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "completed", audioUrl=f"http://proxy.invalid{PATH}/audio")))
    api.on("GET", f"{PATH}/audio", Canned(200, b"RIFF", {"Content-Type": "audio/wav"}))
    client = client_for(api, time_)
    assert client.audio_bytes(client.get(JOB)) == b"RIFF"
    assert api.seen[-1].headers["authorization"] == "Bearer secret"


@pytest.mark.parametrize("bad", ["ftp://host", "127.0.0.1:8787", ""])
def test_a_bad_api_url_is_refused_up_front(bad: str) -> None:
    with pytest.raises(ValueError):
        Client(bad)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "a?b"])
def test_job_ids_cannot_escape_their_path(api: FakeApi, time_: FakeTime, bad: str) -> None:
    with pytest.raises(ValueError):
        client_for(api, time_).get(bad)


def sse_events(*views: tuple[int, dict[str, object]], comment: bool = True) -> Canned:
    body = b": keepalive\n\n" if comment else b""
    for event_id, view in views:
        body += f"event: job\nid: {event_id}\ndata: {json.dumps(view)}\n\n".encode()
    return Canned(200, body, {"Content-Type": "text/event-stream"})


def test_wait_with_events_follows_the_stream_and_resumes_after_the_last_change(api: FakeApi, time_: FakeTime) -> None:
    # The first stream ends before a final state (the server's idle bound): the client reconnects after change 2.
    api.on("GET", f"{PATH}/events", sse_events((1, job_json(JOB, "queued")), (2, job_json(JOB, "processing"))),
           sse_events((5, job_json(JOB, "completed"))))
    seen: list[str] = []
    done = client_for(api, time_).wait(JOB, timeout=60, events=True, on_update=lambda v: seen.append(v.status.value))
    assert done.status is JobStatus.COMPLETED and seen == ["queued", "processing", "completed"]
    assert [s.path for s in api.seen] == [f"{PATH}/events"] * 2
    assert "last-event-id" not in api.seen[0].headers and api.seen[1].headers["last-event-id"] == "2"
    assert api.seen[0].headers["accept"] == "text/event-stream"


def test_wait_with_events_long_polls_a_server_without_them(api: FakeApi, time_: FakeTime) -> None:
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "completed")))
    client = client_for(api, time_)
    assert client.wait(JOB, timeout=60, events=True).status is JobStatus.COMPLETED
    assert [s.path for s in api.seen] == [f"{PATH}/events", f"{PATH}?wait=25"]
    client.wait(JOB, timeout=60, events=True)  # it remembers: no second try of /events
    assert [s.path for s in api.seen][2:] == [f"{PATH}?wait=25"]


def test_submit_sends_deliver_and_reads_the_delivery_back(api: FakeApi, time_: FakeTime) -> None:
    view = job_json(JOB, "completed", delivery={"state": "delivering", "attempts": 2, "lastError": "HTTP 503"})
    api.on("POST", "/v1/jobs", Canned.json(202, view))
    job = client_for(api, time_).submit(
        "hi", deliver={"url": "https://bucket.example.com/k?sig=1", "headers": {"x-amz-meta-a": "b"}}
    )
    assert json.loads(api.seen[-1].body)["deliver"] == {
        "url": "https://bucket.example.com/k?sig=1", "headers": {"x-amz-meta-a": "b"}
    }
    assert job.delivery is not None
    assert (job.delivery.state, job.delivery.attempts, job.delivery.last_error) == ("delivering", 2, "HTTP 503")


def test_status_shows_the_delivery(api: FakeApi, capsys: pytest.CaptureFixture[str]) -> None:
    from tts_client.cli import main

    delivery = {"state": "pending", "attempts": 2, "lastError": "HTTP 503"}
    api.on("GET", PATH, Canned.json(200, job_json(JOB, "completed", delivery=delivery)))
    assert main(["status", "--api", api.url, "--token", "secret", JOB]) == 0
    assert "delivery    pending, 2 attempts (last error: HTTP 503)" in capsys.readouterr().out
    api.on("GET", PATH, Canned.json(404, {"error": {"code": "not_found", "message": "job not found"}}))
    assert main(["status", "--api", api.url, "--token", "secret", JOB]) != 0  # an error is a message, not a traceback


def test_submit_no_cache_sends_cache_false_and_the_default_leaves_it_to_the_server(api: FakeApi) -> None:
    from tts_client.cli import main

    api.on("POST", "/v1/jobs", Canned.json(202, job_json(JOB, "queued")), Canned.json(202, job_json(JOB, "queued")))
    assert main(["submit", "--api", api.url, "--no-cache", "hi"]) == 0
    assert json.loads(api.seen[-1].body) == {"text": "hi", "cache": False}
    assert main(["submit", "--api", api.url, "hi"]) == 0
    assert json.loads(api.seen[-1].body) == {"text": "hi"}
