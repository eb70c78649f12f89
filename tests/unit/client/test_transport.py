"""The client's transport over httpx's MockTransport: what it sends, and each failure as our error."""

from __future__ import annotations

import io
import socket

import httpx
import pytest

from tts_client import ApiError, TransportError
from tts_client.transport import Transport


def transport_for(handler: httpx.MockTransport, token: str | None = "secret") -> Transport:
    return Transport("http://api.test/prefix", token, 5.0, transport=handler)


def test_a_request_goes_to_the_base_url_with_query_json_and_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"ok": True})

    reply = transport_for(httpx.MockTransport(handle)).request(
        "POST", "/v1/jobs", json_body={"text": "hi"}, query={"limit": 3, "cursor": None}
    )
    assert (reply.status, reply.json()) == (202, {"ok": True})
    sent = seen[0]
    assert str(sent.url) == "http://api.test/prefix/v1/jobs?limit=3"
    assert sent.headers["authorization"] == "Bearer secret"
    assert sent.headers["content-type"] == "application/json" and sent.content == b'{"text": "hi"}'
    assert sent.headers["user-agent"] == "tts-client/0.1"


def test_the_token_never_goes_to_another_origin() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=b"RIFF", headers={"content-type": "audio/wav"})

    transport = transport_for(httpx.MockTransport(handle))
    sink = io.BytesIO()
    got = transport.download("https://bucket.example/audio.wav?sig=1", sink)
    transport.download("/v1/jobs/j/audio", io.BytesIO())
    assert (got.size_bytes, got.content_type, sink.getvalue()) == (4, "audio/wav", b"RIFF")
    assert "authorization" not in seen[0].headers
    assert seen[1].headers["authorization"] == "Bearer secret"


def test_an_error_answer_becomes_an_api_error_with_its_body_and_retry_after() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "rate_limited", "message": "slow down", "limit": 100}}
        return httpx.Response(429, json=body, headers={"Retry-After": "7"})

    with pytest.raises(ApiError) as caught:
        transport_for(httpx.MockTransport(handle)).request("GET", "/v1/jobs")
    error = caught.value
    assert (error.status, error.code, error.message, error.retry_after) == (429, "rate_limited", "slow down", 7.0)
    assert error.details == {"limit": 100} and error.transient


def test_event_stream_lines_come_without_their_ends() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["accept"] == "text/event-stream"
        return httpx.Response(200, content=b"id: 1\nevent: job\ndata: {}\n\n: keep\n")

    lines = list(transport_for(httpx.MockTransport(handle)).lines("/v1/jobs/j/events"))
    assert lines == [b"id: 1", b"event: job", b"data: {}", b"", b": keep"]


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (httpx.ConnectError("reset by peer"), "GET http://api.test/prefix/v1/models: reset by peer"),
        (httpx.ReadTimeout("slow"), "GET http://api.test/prefix/v1/models: no answer within 5 s"),
    ],
)
def test_no_answer_is_a_transport_error(raised: Exception, message: str) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(TransportError) as caught:
        transport_for(httpx.MockTransport(handle)).request("GET", "/v1/models")
    assert str(caught.value) == message


def test_a_refused_connection_and_an_unknown_host_say_so() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as exc:
            raise httpx.ConnectError("refused") from exc

    def unknown(request: httpx.Request) -> httpx.Response:
        try:
            raise socket.gaierror(-2, "Name or service not known")
        except OSError as exc:
            raise httpx.ConnectError("no such host") from exc

    with pytest.raises(TransportError, match=r"cannot connect to http://api.test \(connection refused\).*tts-pipeline dev"):
        transport_for(httpx.MockTransport(refused)).request("GET", "/v1/models")
    with pytest.raises(TransportError, match=r"cannot connect to api.test: unknown host \(Name or service not known\)"):
        transport_for(httpx.MockTransport(unknown)).request("GET", "/v1/models")


def test_a_bad_api_url_is_refused_at_once() -> None:
    for url in ("ftp://api.test", "api.test", "http://"):
        with pytest.raises(ValueError, match="API URL must be"):
            Transport(url)
