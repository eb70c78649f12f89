"""The Python client's lexicon calls and SSML submits, sync and async, against a scripted fake API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fake_api import Canned, FakeApi, job_json, serve
from tts_client import AsyncClient, Client

VIEW = {
    "name": "names", "version": "0123456789abcdef", "format": "pls", "ruleCount": 1, "sizeBytes": 200,
    "language": "en-US", "createdAt": "2026-11-01T00:00:00Z", "updatedAt": "2026-11-01T00:00:00Z",
}
PLS = '<lexicon xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"><lexeme><grapheme>a</grapheme><alias>b</alias></lexeme></lexicon>'


@pytest.fixture
def api() -> Iterator[FakeApi]:
    with serve(FakeApi()) as running:
        yield running


def test_put_sends_pls_or_json_with_its_content_type(api: FakeApi, tmp_path: Path) -> None:
    api.on("PUT", "/v1/lexicons/names", Canned.json(201, VIEW))
    client = Client(api.url, "secret")
    assert client.put_lexicon("names", PLS).version == "0123456789abcdef"
    client.put_lexicon("names", {"rules": [{"grapheme": "a", "alias": "b"}]})
    path = tmp_path / "names.json"
    path.write_text('{"rules": []}')
    client.put_lexicon("names", path)
    (tmp_path / "names.pls").write_text(PLS)
    client.put_lexicon("names", tmp_path / "names.pls")
    sent = [(s.headers["content-type"], s.body[:1]) for s in api.seen]
    assert sent == [("application/pls+xml", b"<"), ("application/json", b"{"), ("application/json", b"{"),
                    ("application/pls+xml", b"<")]
    assert all(s.headers["authorization"] == "Bearer secret" for s in api.seen)


def test_list_get_delete_and_an_ssml_submit(api: FakeApi) -> None:
    api.on("GET", "/v1/lexicons", Canned.json(200, {"lexicons": [VIEW]}))
    api.on("GET", "/v1/lexicons/names", Canned.json(200, {**VIEW, "rules": [{"grapheme": "a", "alias": "b"}]}))
    api.on("DELETE", "/v1/lexicons/names", Canned(204))
    api.on("POST", "/v1/jobs", Canned.json(202, job_json(textType="ssml")))
    client = Client(api.url, None)
    assert [x.name for x in client.lexicons()] == ["names"]
    assert client.get_lexicon("names").rules[0].alias == "b"
    client.delete_lexicon("names")
    client.submit("<speak>a<break/>b</speak>", text_type="ssml", lexicons=["names", "more"])
    assert json.loads(api.seen[-1].body) == {"text": "<speak>a<break/>b</speak>", "textType": "ssml",
                                             "lexicons": ["names", "more"]}
    with pytest.raises(ValueError):
        client.get_lexicon("../jobs")


async def test_the_async_client_mirrors_it(api: FakeApi) -> None:
    api.on("PUT", "/v1/lexicons/names", Canned.json(200, VIEW))
    api.on("GET", "/v1/lexicons", Canned.json(200, {"lexicons": [VIEW]}))
    api.on("GET", "/v1/lexicons/names", Canned(200, PLS.encode(), {"Content-Type": "application/pls+xml"}))
    api.on("DELETE", "/v1/lexicons/names", Canned(204))
    async with AsyncClient(api.url, "secret") as client:
        assert (await client.put_lexicon("names", PLS)).rule_count == 1
        assert len(await client.lexicons()) == 1
        assert await client.get_lexicon_pls("names") == PLS
        assert api.seen[-1].headers["accept"] == "application/pls+xml"
        await client.delete_lexicon("names")
