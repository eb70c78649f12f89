"""Both clients over httpx's MockTransport, the same script for each: the requests they send, how
``wait()`` long-polls, polls, retries and follows events, the errors they raise, and that the async
client runs on its own event loop (no threads) with one pool it closes."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_api import FakeTime, job_json
from tts_client import ApiError, AsyncClient, Backoff, Client, JobStatus, JobView, TransportError, WaitTimeoutError
from tts_client.transport import AsyncTransport, Transport

JOB = "a" * 32
PATH = f"/v1/jobs/{JOB}"
STEADY = Backoff(initial=1, factor=2, max_delay=4, random=lambda: 1.0)
Handler = Callable[[httpx.Request], httpx.Response]


class Script:
    """Answers per (method, path without query), in order, the last one repeated; records each request."""

    def __init__(self) -> None:
        self.replies: dict[tuple[str, str], list[Callable[[], httpx.Response]]] = {}
        self.seen: list[httpx.Request] = []
        self.threads: set[int] = set()

    def on(self, method: str, path: str, *replies: Callable[[], httpx.Response]) -> None:
        self.replies[(method, path)] = list(replies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        self.threads.add(threading.get_ident())
        queue = self.replies[(request.method, request.url.path)]
        return (queue.pop(0) if len(queue) > 1 else queue[0])()

    @property
    def paths(self) -> list[str]:
        return [f"{r.url.path}?{r.url.query.decode()}" if r.url.query else r.url.path for r in self.seen]


def reply(status: int, body: Any = None, **headers: str) -> Callable[[], httpx.Response]:
    if isinstance(body, bytes):
        return lambda: httpx.Response(status, content=body, headers=headers)
    return lambda: httpx.Response(status, json=body, headers=headers)


def fails(exc: BaseException) -> Callable[[], httpx.Response]:
    def raise_it() -> httpx.Response:
        raise exc
    return raise_it


class Both:
    """Runs one client call, on ``Client`` or on ``AsyncClient``, and returns its result."""

    def __init__(self, kind: str, script: Script, time_: FakeTime, token: str | None = "secret") -> None:
        self.kind, self.script, self.time_, self.token = kind, script, time_, token

    def __call__(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.kind == "sync":
            transport = Transport("http://api.test", self.token, 30.0, transport=httpx.MockTransport(self.script))
            with Client(transport=transport, clock=self.time_.clock, sleep=self.time_.sleep) as tts:
                result = getattr(tts, name)(*args, **kwargs)
                return list(result) if name == "events" else result

        async def run() -> Any:
            transport = AsyncTransport("http://api.test", self.token, 30.0, transport=httpx.MockTransport(self.script))
            async with AsyncClient(transport=transport, clock=self.time_.clock, sleep=self.time_.asleep) as tts:
                result = getattr(tts, name)(*args, **kwargs)
                if name == "events":
                    return [event async for event in result]
                return await result

        return asyncio.run(run())


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def time_() -> FakeTime:
    return FakeTime()


@pytest.fixture(params=["sync", "async"])
def both(request: pytest.FixtureRequest, script: Script, time_: FakeTime) -> Both:
    return Both(request.param, script, time_)


def test_submit_sends_the_body_the_token_and_the_idempotency_key(both: Both, script: Script) -> None:
    script.on("POST", "/v1/jobs", reply(202, job_json(JOB, "queued")))
    job = both("submit", "Hello", model="tone", speed=1.5, idempotency_key="k1")
    sent = script.seen[0]
    assert job.job_id == JOB and job.status is JobStatus.QUEUED
    assert json.loads(sent.content) == {"text": "Hello", "model": "tone", "speed": 1.5}
    assert sent.headers["authorization"] == "Bearer secret" and sent.headers["idempotency-key"] == "k1"
    assert sent.headers["user-agent"] == "tts-client/0.1"


def test_an_error_answer_is_the_same_api_error(both: Both, script: Script) -> None:
    body = {"error": {"code": "invalid_field", "message": "speed too high", "field": "speed"}}
    script.on("POST", "/v1/jobs", reply(422, body))
    with pytest.raises(ApiError) as caught:
        both("submit", "Hello", speed=4.0)
    assert (caught.value.status, caught.value.code, caught.value.field) == (422, "invalid_field", "speed")


def test_wait_long_polls_and_asks_again_at_once_after_a_change(both: Both, script: Script, time_: FakeTime) -> None:
    script.on("GET", PATH, reply(200, job_json(JOB, "queued")), reply(200, job_json(JOB, "processing")),
              reply(200, job_json(JOB, "completed")))
    seen: list[str] = []
    done = both("wait", JOB, timeout=60, backoff=STEADY, on_update=lambda v: seen.append(v.status.value))
    assert done.status is JobStatus.COMPLETED and seen == ["queued", "processing", "completed"]
    assert script.paths == [f"{PATH}?wait=25"] * 3 and time_.slept == []


def test_wait_polls_a_server_without_long_poll_with_backoff(both: Both, script: Script, time_: FakeTime) -> None:
    unknown = {"error": {"code": "unknown_query_parameter", "message": "unknown query parameter: wait"}}
    script.on("GET", PATH, reply(400, unknown), reply(200, job_json(JOB, "processing")),
              reply(200, job_json(JOB, "processing")), reply(200, job_json(JOB, "completed")))
    assert both("wait", JOB, timeout=60, backoff=STEADY).status is JobStatus.COMPLETED
    assert script.paths == [f"{PATH}?wait=25", PATH, PATH, PATH]
    assert time_.slept == [1.0, 2.0]


def test_wait_rides_out_a_dropped_connection_and_honours_retry_after(
    both: Both, script: Script, time_: FakeTime
) -> None:
    busy = {"error": {"code": "rate_limited", "message": "slow down"}}
    script.on("GET", PATH, fails(httpx.ConnectError("reset")), reply(429, busy, **{"Retry-After": "3"}),
              reply(200, job_json(JOB, "completed")))
    assert both("wait", JOB, timeout=60, backoff=STEADY).status is JobStatus.COMPLETED
    assert time_.slept == [1.0, 3.0]


def test_wait_times_out_with_the_last_view(both: Both, script: Script, time_: FakeTime) -> None:
    script.on("GET", PATH, reply(200, job_json(JOB, "processing")))
    with pytest.raises(WaitTimeoutError) as caught:
        both("wait", JOB, timeout=5, backoff=STEADY)
    assert caught.value.job is not None and caught.value.job.status is JobStatus.PROCESSING
    assert sum(time_.slept) == pytest.approx(5.0)


def test_wait_raises_a_final_api_error_at_once(both: Both, script: Script) -> None:
    script.on("GET", PATH, reply(404, {"error": {"code": "not_found", "message": "job not found"}}))
    with pytest.raises(ApiError, match="404 not_found"):
        both("wait", JOB, timeout=60)
    assert len(script.seen) == 1


def sse(*views: tuple[int, dict[str, object]]) -> Callable[[], httpx.Response]:
    body = b": keepalive\n\n"
    for event_id, view in views:
        body += f"event: job\nid: {event_id}\ndata: {json.dumps(view)}\n\n".encode()
    return reply(200, body, **{"Content-Type": "text/event-stream"})


def test_wait_with_events_follows_the_stream_and_resumes_after_the_last_change(both: Both, script: Script) -> None:
    script.on("GET", f"{PATH}/events", sse((1, job_json(JOB, "queued")), (2, job_json(JOB, "processing"))),
              sse((5, job_json(JOB, "completed"))))
    seen: list[str] = []
    done = both("wait", JOB, timeout=60, events=True, on_update=lambda v: seen.append(v.status.value))
    assert done.status is JobStatus.COMPLETED and seen == ["queued", "processing", "completed"]
    assert script.paths == [f"{PATH}/events"] * 2
    assert "last-event-id" not in script.seen[0].headers and script.seen[1].headers["last-event-id"] == "2"


def test_wait_with_events_long_polls_a_server_without_them(both: Both, script: Script) -> None:
    script.on("GET", f"{PATH}/events", reply(404, {"error": {"code": "not_found", "message": "no route"}}))
    script.on("GET", PATH, reply(200, job_json(JOB, "completed")))
    assert both("wait", JOB, timeout=60, events=True).status is JobStatus.COMPLETED
    assert script.paths == [f"{PATH}/events", f"{PATH}?wait=25"]


def test_events_yields_each_change(both: Both, script: Script) -> None:
    script.on("GET", f"{PATH}/events", sse((1, job_json(JOB, "queued")), (3, job_json(JOB, "completed"))))
    events = both("events", JOB, last_event_id=0)
    assert [(n, v.status.value) for n, v in events] == [(1, "queued"), (3, "completed")]
    assert script.seen[0].headers["last-event-id"] == "0"


def test_download_to_a_path_leaves_no_partial_file_when_the_stream_breaks(
    both: Both, script: Script, tmp_path: Path
) -> None:
    class Broken(httpx.SyncByteStream, httpx.AsyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield b"RIFF"
            raise httpx.ReadError("peer went away")

        async def __aiter__(self) -> Any:
            yield b"RIFF"
            raise httpx.ReadError("peer went away")

    script.on("GET", f"{PATH}/audio", lambda: httpx.Response(200, stream=Broken()))
    with pytest.raises(TransportError, match="connection broke while downloading"):
        both("download", JOB, tmp_path / "out.wav")
    assert list(tmp_path.iterdir()) == []

    script.on("GET", f"{PATH}/audio", reply(200, b"RIFF1234", **{"Content-Type": "audio/wav"}))
    got = both("download", JOB, tmp_path / "out.wav")
    assert (got.size_bytes, got.content_type) == (8, "audio/wav")
    assert (tmp_path / "out.wav").read_bytes() == b"RIFF1234" and len(list(tmp_path.iterdir())) == 1


def test_a_signed_audio_link_gets_no_token(both: Both, script: Script) -> None:
    signed = JobView.model_validate(job_json(JOB, "completed", audioUrl="https://cdn.test/a.wav?sig=1"))
    script.on("GET", "/a.wav", reply(200, b"RIFF"))
    assert both("audio_bytes", signed) == b"RIFF"
    assert str(script.seen[0].url) == "https://cdn.test/a.wav?sig=1" and "authorization" not in script.seen[0].headers


def test_captions_and_lexicons(both: Both, script: Script) -> None:
    script.on("GET", f"{PATH}/captions.vtt", reply(200, b"WEBVTT\n"))
    view = {"name": "names", "version": "0" * 16, "format": "json", "ruleCount": 1, "sizeBytes": 50,
            "createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z"}
    script.on("PUT", "/v1/lexicons/names", reply(200, view))
    assert both("captions", JOB, "vtt") == "WEBVTT\n"
    assert both("put_lexicon", "names", {"rules": [{"grapheme": "Nguyen", "alias": "win"}]}).rule_count == 1
    put = script.seen[-1]
    assert put.headers["content-type"] == "application/json" and json.loads(put.content)["rules"]


def refused() -> httpx.Response:
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError as exc:
        raise httpx.ConnectError("refused") from exc


def unknown_host() -> httpx.Response:
    try:
        raise socket.gaierror(-2, "Name or service not known")
    except OSError as exc:
        raise httpx.ConnectError("no such host") from exc


def test_no_answer_says_why_in_the_same_words(both: Both, script: Script) -> None:
    script.on("GET", "/v1/models", refused)
    refused_message = r"cannot connect to http://api.test \(connection refused\).*tts-pipeline dev"
    with pytest.raises(TransportError, match=refused_message):
        both("models")
    script.on("GET", "/v1/models", unknown_host)
    with pytest.raises(TransportError, match=r"cannot connect to api.test: unknown host \(Name or service not known\)"):
        both("models")
    script.on("GET", "/v1/models", fails(httpx.ReadTimeout("slow")))
    with pytest.raises(TransportError, match=r"^GET http://api.test/v1/models: no answer within 30 s$"):
        both("models")


async def test_the_async_client_runs_on_the_loop_with_one_pool_it_closes(script: Script) -> None:
    script.on("POST", "/v1/jobs", reply(202, job_json(JOB, "queued")))
    transport = AsyncTransport("http://api.test", None, transport=httpx.MockTransport(script))
    async with AsyncClient(transport=transport) as tts:
        jobs = await asyncio.gather(*(tts.submit(f"job {i}") for i in range(5)))
    assert len(jobs) == 5 and script.threads == {threading.get_ident()}  # no worker threads
    assert transport._http.is_closed
    assert "authorization" not in script.seen[0].headers  # no token given, none sent


async def test_an_async_on_update_coroutine_is_awaited(script: Script, time_: FakeTime) -> None:
    script.on("GET", PATH, reply(200, job_json(JOB, "processing")), reply(200, job_json(JOB, "completed")))
    seen: list[str] = []

    async def record(view: JobView) -> None:
        await asyncio.sleep(0)
        seen.append(view.status.value)

    transport = AsyncTransport("http://api.test", None, transport=httpx.MockTransport(script))
    async with AsyncClient(transport=transport, clock=time_.clock, sleep=time_.asleep) as tts:
        await tts.wait(JOB, timeout=60, on_update=record)
    assert seen == ["processing", "completed"]


def test_both_transports_ignore_proxy_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.invalid:1")
    assert Transport("http://api.test")._http.trust_env is False
    assert AsyncTransport("http://api.test")._http.trust_env is False


def test_a_bad_api_url_is_refused_by_both() -> None:
    for make in (Transport, AsyncTransport):
        with pytest.raises(ValueError, match="API URL must be"):
            make("api.test")


def test_the_async_download_writes_to_a_file_object() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * 600_000, headers={"content-type": "audio/wav"})

    async def run() -> tuple[int, int]:
        transport = AsyncTransport("http://api.test", transport=httpx.MockTransport(handle))
        sink = io.BytesIO()
        got = await transport.download("/v1/jobs/j/audio", sink)
        await transport.close()
        return got.size_bytes, len(sink.getvalue())

    assert asyncio.run(run()) == (600_000, 600_000)
