"""resultUrl / audioUrl come from PUBLIC_BASE_URL, or from a Host that is hostname[:port], else are relative."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local_runtime.runtime import LocalRuntime
from shared.api.links import link_base, require_public_base_url
from shared.config import Settings
from shared.errors import ConfigError
from shared.http import HttpRequest
from tests.unit.api.test_api_models_and_limits import TOKEN, app


@pytest.mark.parametrize(
    "base",
    ["http://127.0.0.1:8787", "http://localhost", "https://api.example.com", "https://API.Example.com:443",
     "http://[::1]:8787", "http://a-b.c-d.example:1", "http://example.com."],
)
def test_well_formed_hosts_are_kept(base: str) -> None:
    assert link_base(Settings.from_env({}), base) == base


@pytest.mark.parametrize(
    "base",
    ['http://a"><script>', "http://evil.com/path", "http://evil.com?x", "http://evil.com#x", "http://user@evil.com",
     "http://evil.com:0", "http://evil.com:65536", "http://evil.com:80:80", "http://evil.com:", "http://-evil.com",
     "http://evil-.com", "http://ev il.com", "http://evil.com\r\nX: 1", "http://[::1", "http://[not-ipv6]",
     "http://[::1]x", "http://" + "a" * 64 + ".com", "http://" + ("a." * 127) + "com", "http://évil.com",
     "http://ev_il.com", "javascript://evil.com", "http://", "", "evil.com", "http://a..b", "http://%65vil.com",
     "http://evil.com\\@x", "http://.evil.com"],
)
def test_anything_else_gives_relative_links(base: str) -> None:
    assert link_base(Settings.from_env({}), base) == ""


def test_public_base_url_wins_over_the_host() -> None:
    settings = Settings.from_env({"PUBLIC_BASE_URL": "https://tts.example.com/"})
    assert link_base(settings, "http://attacker.example") == "https://tts.example.com"


@pytest.mark.parametrize("value", ["tts.example.com", "ftp://tts.example.com", 'https://a"><script>', "https://x.com?q"])
def test_a_bad_public_base_url_is_a_config_error_naming_it(value: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        Settings.from_env({"PUBLIC_BASE_URL": value})


def test_a_public_base_url_may_carry_a_path_prefix() -> None:
    assert Settings.from_env({"PUBLIC_BASE_URL": "https://x.example/tts/"}).public_base_url == "https://x.example/tts"


async def test_a_reflected_host_never_reaches_the_json() -> None:
    # GIVEN a job, asked for with a Host header carrying markup
    api, _ = app()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    evil = 'http://a"><script>'
    reply = await api.handle(HttpRequest.build("POST", "/v1/jobs", headers=headers, body=b'{"text": "hi"}', base_url=evil))
    body = json.loads(reply.body)
    # THEN its links are relative
    assert body["resultUrl"] == f"/v1/jobs/{body['jobId']}/result"
    status = await api.handle(HttpRequest.build("GET", f"/v1/jobs/{body['jobId']}", headers=headers, base_url=evil))
    assert "<script>" not in status.body.decode() and "a\\\"" not in status.body.decode()
    listing = await api.handle(HttpRequest.build("GET", "/v1/jobs", headers=headers, base_url=evil))
    assert "<script>" not in listing.body.decode()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.1", "::", "example.org"])
def test_serving_beyond_loopback_needs_a_public_base_url(host: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        require_public_base_url(Settings.from_env({}), host)
    require_public_base_url(Settings.from_env({"PUBLIC_BASE_URL": "https://tts.example.com"}), host)


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_public_base_url(host: str) -> None:
    require_public_base_url(Settings.from_env({}), host)


def test_the_local_runtime_refuses_a_public_host_without_public_base_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_BASE_URL"):
        LocalRuntime(tmp_path, {"API_TOKENS": "t:x"}, host="0.0.0.0")


async def test_the_local_server_builds_links_from_its_bound_address_not_the_host_header() -> None:
    import asyncio

    from local_runtime.server import HttpServer
    from shared.http import HttpResponse

    async def echo(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json(200, {"base": request.base_url})

    server = HttpServer(echo, "127.0.0.1", 0)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(reader.read(), 5)
        writer.close()
    finally:
        await server.stop()
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1]) == {"base": f"http://127.0.0.1:{server.port}"}
