"""LocalHttpClient (the local runtime's HttpClient) against a loopback server."""

from __future__ import annotations

import socket

import pytest

from local_runtime.http_client import LocalHttpClient, LocalStreamUploader
from shared.errors import HttpConnectionError, HttpTimeoutError
from tests.provider_server import FakeServer, Reply


@pytest.fixture
async def server():  # type: ignore[no-untyped-def]
    fake = FakeServer()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


async def test_post_with_body_and_headers(server: FakeServer) -> None:
    server.script(Reply(201, b"created", {"X-Thing": "1", "Set-Cookie": "a=1"}))
    response = await LocalHttpClient().request(
        "POST", f"{server.url}/v1/x?y=1", headers={"Content-Type": "application/json"}, body=b'{"a":1}', timeout=5
    )
    assert (response.status, response.body, response.header("X-THING")) == (201, b"created", "1")
    seen = server.requests[0]
    assert (seen.method, seen.target, seen.body) == ("POST", "/v1/x?y=1", b'{"a":1}')
    assert seen.headers["host"] == f"127.0.0.1:{server.port}" and seen.headers["content-length"] == "7"
    assert seen.headers["accept-encoding"] == "identity"


async def test_chunked_response_is_read_whole(server: FakeServer) -> None:
    body = bytes(range(256)) * 40
    server.script(Reply(200, body, chunked=True))
    response = await LocalHttpClient().request("GET", server.url + "/", headers={}, body=None, timeout=5)
    assert response.body == body


async def test_error_statuses_are_responses_not_errors(server: FakeServer) -> None:
    server.script(Reply(503, b"busy", {"Retry-After": "2"}))
    response = await LocalHttpClient().request("GET", server.url + "/", headers={}, body=None, timeout=5)
    assert (response.status, response.header("retry-after")) == (503, "2")


async def test_timeout(server: FakeServer) -> None:
    server.script(Reply(200, b"late", delay=30))
    with pytest.raises(HttpTimeoutError, match="no response within 0.2 s"):
        await LocalHttpClient().request("GET", server.url + "/slow", headers={}, body=None, timeout=0.2)


async def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        with pytest.raises(HttpConnectionError):
            await LocalHttpClient().request("GET", f"http://127.0.0.1:{port}/", headers={}, body=None, timeout=5)


async def test_dropped_connection(server: FakeServer) -> None:
    server.script(Reply(drop=True))
    with pytest.raises(HttpConnectionError):
        await LocalHttpClient().request("GET", server.url + "/", headers={}, body=None, timeout=5)


async def test_oversized_bodies_are_refused(server: FakeServer) -> None:
    server.script(Reply(200, b"x" * 5000), Reply(200, b"y" * 5000, chunked=True))
    client = LocalHttpClient(max_response_bytes=1000)
    with pytest.raises(HttpConnectionError, match="over the 1000-byte limit"):
        await client.request("GET", server.url + "/", headers={}, body=None, timeout=5)
    with pytest.raises(HttpConnectionError, match="over the 1000-byte limit"):
        await client.request("GET", server.url + "/", headers={}, body=None, timeout=5)


async def test_not_http() -> None:
    with pytest.raises(HttpConnectionError):
        await LocalHttpClient().request("GET", "ftp://example.com/", headers={}, body=None, timeout=1)


class _Pieces:
    """A blob body that yields ``data`` in pieces (``shared.ports.BlobBody``'s ``pieces``)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.sizes: list[int] = []

    async def pieces(self, size: int):  # type: ignore[no-untyped-def]
        for start in range(0, len(self.data), size):
            piece = self.data[start:start + size]
            self.sizes.append(len(piece))
            yield piece


async def test_put_streams_the_blob_with_its_length(server: FakeServer) -> None:
    server.script(Reply(201, b"stored"))
    data = bytes(range(256)) * 1000
    blob = _Pieces(data)
    status = await LocalStreamUploader().put(
        server.url + "/bucket/key?sig=1", headers={"X-Amz-Meta-A": "1", "Host": "evil"}, body=blob,  # type: ignore[arg-type]
        length=len(data), timeout=5,
    )
    seen = server.requests[0]
    assert (status, seen.method, seen.target, seen.body) == (201, "PUT", "/bucket/key?sig=1", data)
    assert seen.headers["content-length"] == str(len(data)) and "transfer-encoding" not in seen.headers
    assert seen.headers["host"] == f"127.0.0.1:{server.port}" and seen.headers["x-amz-meta-a"] == "1"
    assert max(blob.sizes) <= 64 * 1024 and len(blob.sizes) > 1


async def test_a_blob_shorter_than_its_length_is_a_connection_error(server: FakeServer) -> None:
    server.script(Reply(200, b"ok"))
    with pytest.raises(HttpConnectionError):
        await LocalStreamUploader().put(server.url + "/k", headers={}, body=_Pieces(b"abc"), length=10, timeout=5)  # type: ignore[arg-type]


async def test_a_blob_longer_than_its_length_is_a_connection_error(server: FakeServer) -> None:
    server.script(Reply(200, b"ok"))
    with pytest.raises(HttpConnectionError, match="runs past its length of 3 bytes"):
        await LocalStreamUploader().put(server.url + "/k", headers={}, body=_Pieces(b"abcdef"), length=3, timeout=5)  # type: ignore[arg-type]


async def test_put_timeout(server: FakeServer) -> None:
    server.script(Reply(200, b"late", delay=30))
    with pytest.raises(HttpTimeoutError, match="no response within 0.2 s"):
        await LocalStreamUploader().put(server.url + "/k", headers={}, body=_Pieces(b"abc"), length=3, timeout=0.2)  # type: ignore[arg-type]
