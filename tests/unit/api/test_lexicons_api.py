"""``/v1/lexicons`` and jobs that use them: upload (PLS or JSON), limits, errors naming the bad rule,
the version a job records, SSML errors with line and column, limits on the spoken text."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.api.app import ApiApp
from shared.http import HttpRequest, HttpResponse
from shared.jobs.lexicons import MAX_KEPT_VERSIONS, lexicon_object_name
from shared.jobs.shard import Get
from shared.synthesis.catalogue import ssml_support, tone_spec
from tests.unit.api.test_api_models_and_limits import TOKEN, app, data

PLS = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa" xml:lang="en-US">\n'
    "  <lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme>\n"
    "</lexicon>\n"
)
RULES = {"rules": [{"grapheme": "W3C", "alias": "World Wide Web Consortium"}, {"grapheme": "Nguyen", "phoneme": "ŋwiən"}]}


async def send(api: ApiApp, method: str, path: str, body: bytes = b"", content_type: str | None = None,
               **headers: str) -> HttpResponse:
    sent = {"Authorization": f"Bearer {TOKEN}", **headers}
    if content_type:
        sent["Content-Type"] = content_type
    return await api.handle(HttpRequest.build(method, path, headers=sent, body=body, base_url="https://api.test"))


async def put_json(api: ApiApp, name: str, rules: Any) -> HttpResponse:
    return await send(api, "PUT", f"/v1/lexicons/{name}", json.dumps(rules).encode(), "application/json")


async def submit(api: ApiApp, **body: Any) -> HttpResponse:
    return await send(api, "POST", "/v1/jobs", json.dumps(body).encode(), "application/json")


async def test_put_list_get_delete() -> None:
    api, _ = app()
    created = await send(api, "PUT", "/v1/lexicons/acronyms", PLS.encode(), "application/pls+xml")
    assert created.status == 201 and created.headers["Location"] == "/v1/lexicons/acronyms"
    view = data(created)
    assert view["format"] == "pls" and view["ruleCount"] == 1 and view["language"] == "en-US" and len(view["version"]) == 16
    same = await put_json(api, "acronyms", {"language": "en-US", "rules": [RULES["rules"][0]]})
    assert same.status == 200 and data(same)["version"] == view["version"]  # the same rules, the same version
    assert (await put_json(api, "names", RULES)).status == 201
    listed = data(await send(api, "GET", "/v1/lexicons"))
    assert [x["name"] for x in listed["lexicons"]] == ["acronyms", "names"]
    got = data(await send(api, "GET", "/v1/lexicons/names"))
    assert got["rules"] == [
        {"grapheme": "W3C", "alias": "World Wide Web Consortium"},
        {"grapheme": "Nguyen", "phoneme": "ŋwiən", "alphabet": "ipa"},
    ]
    assert (await send(api, "PUT", "/v1/lexicons/acronyms", PLS.encode(), "application/pls+xml")).status == 200
    pls = await send(api, "GET", "/v1/lexicons/acronyms", Accept="application/pls+xml")
    assert pls.headers["Content-Type"].startswith("application/pls+xml") and pls.body.decode() == PLS
    assert (await send(api, "DELETE", "/v1/lexicons/names")).status == 204
    assert (await send(api, "GET", "/v1/lexicons/names")).status == 404
    assert (await send(api, "DELETE", "/v1/lexicons/names")).status == 404


async def test_lexicons_are_the_tenants_own_and_live_in_its_object() -> None:
    api, shards = app(API_TOKENS=f"alice:{TOKEN},bob:bob-token")
    await put_json(api, "names", RULES)
    bob = await api.handle(HttpRequest.build("GET", "/v1/lexicons", headers={"Authorization": "Bearer bob-token"}))
    assert data(bob) == {"lexicons": []}
    assert (lexicon_object_name("alice"), "lexiconPut") in shards.calls
    assert not [c for c in shards.calls if c[0].startswith("shard-")]  # no job shard is touched


@pytest.mark.parametrize(
    "body,content_type,status,code,extra",
    [
        (b"<lexicon><lexeme><grapheme>a</grapheme></lexeme></lexicon>", "application/pls+xml", 400, "invalid_lexicon",
         {"line": 1, "column": 10}),
        (b'<!DOCTYPE lexicon [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<lexicon>&x;</lexicon>', "application/xml",
         400, "invalid_lexicon", {"line": 1, "column": 1}),
        (json.dumps({"rules": [{"grapheme": "a", "alias": "b"}, {"grapheme": "c"}]}).encode(), "application/json", 400,
         "invalid_lexicon", {"rule": 1}),
        (b"{nope", "application/json", 400, "invalid_json", {}),
        (b"\xff\xfe", "application/pls+xml", 400, "invalid_lexicon", {}),
        (b"W3C=World Wide Web", "text/plain", 415, "unsupported_media_type", {}),
    ],
)
async def test_bad_lexicons_are_refused_naming_the_problem(
    body: bytes, content_type: str, status: int, code: str, extra: dict[str, Any]
) -> None:
    api, _ = app()
    reply = await send(api, "PUT", "/v1/lexicons/x", body, content_type)
    error = data(reply)["error"]
    assert (reply.status, error["code"]) == (status, code), error
    assert {k: error[k] for k in extra} == extra


async def test_lexicon_limits() -> None:
    api, _ = app(MAX_LEXICON_BYTES="200", MAX_LEXICON_RULES="2", MAX_LEXICONS="2")
    big = await put_json(api, "big", {"rules": [{"grapheme": "a" * 100, "alias": "b" * 100}]})
    assert big.status == 413 and data(big)["error"]["code"] == "lexicon_too_large"
    many = await put_json(api, "many", {"rules": [{"grapheme": g, "alias": "x"} for g in "abc"]})
    assert many.status == 400 and "MAX_LEXICON_RULES" in data(many)["error"]["message"]
    assert (await put_json(api, "one", {"rules": [{"grapheme": "a", "alias": "x"}]})).status == 201
    assert (await put_json(api, "two", {"rules": [{"grapheme": "a", "alias": "x"}]})).status == 201
    third = await put_json(api, "three", {"rules": [{"grapheme": "a", "alias": "x"}]})
    assert third.status == 409 and data(third)["error"]["code"] == "too_many_lexicons"
    assert (await put_json(api, "two", {"rules": [{"grapheme": "b", "alias": "y"}]})).status == 200  # replacing is fine
    bad_name = await put_json(api, "no/slash", {"rules": [{"grapheme": "a", "alias": "x"}]})
    assert bad_name.status in (400, 404)


async def test_versions_kept_for_running_jobs_are_bounded() -> None:
    api, _ = app()
    for n in range(MAX_KEPT_VERSIONS + 1):
        assert (await put_json(api, "churn", {"rules": [{"grapheme": "a", "alias": f"v{n}"}]})).status in (200, 201)
    refused = await put_json(api, "churn", {"rules": [{"grapheme": "a", "alias": "one more"}]})
    assert refused.status == 429 and data(refused)["error"]["code"] == "too_many_versions"
    assert int(refused.headers["Retry-After"]) > 0


async def test_a_job_records_the_lexicon_versions_it_read() -> None:
    api, shards = app()
    version = data(await put_json(api, "names", RULES))["version"]
    reply = await submit(api, text="The W3C met.", lexicons=["names"], model="tone")
    assert reply.status == 202, data(reply)
    job = data(reply)
    assert job["lexicons"] == [{"name": "names", "version": version}]
    stored = await shards.client.call(Get(job_id=job["jobId"], with_text=True))
    assert stored is not None and stored.lexicons == f"names@{version}" and stored.text_type is None
    await put_json(api, "names", {"rules": [{"grapheme": "W3C", "alias": "W three C"}]})
    assert data(await send(api, "GET", f"/v1/jobs/{job['jobId']}"))["lexicons"][0]["version"] == version


async def test_unknown_lexicon_and_bad_ssml_and_unsayable_phonemes() -> None:
    api, _ = app()
    unknown = await submit(api, text="hi", lexicons=["nope"])
    assert unknown.status == 422 and data(unknown)["error"]["code"] == "unknown_lexicon"
    assert data(unknown)["error"]["field"] == "lexicons" and "'nope'" in data(unknown)["error"]["message"]
    bad = await submit(api, text="<speak>\n  Hello <break time='2s'>\n</speak>", textType="ssml")
    error = data(bad)["error"]
    assert bad.status == 400 and error["code"] == "invalid_ssml" and (error["line"], error["column"]) == (3, 3)
    assert (await submit(api, text="<speak>hi</speak>", textType="html")).status == 422
    await put_json(api, "ph", {"rules": [{"grapheme": "Xi", "phoneme": "ʃiː"}]})
    unsayable = await submit(api, text="Ask Xi", lexicons=["ph"], model="tone")
    assert unsayable.status == 422 and data(unsayable)["error"]["code"] == "phoneme_unsupported"
    assert "'tone'" in data(unsayable)["error"]["message"]
    twice = await submit(api, text="hi", lexicons=["ph", "ph"])
    assert twice.status == 422 and data(twice)["error"]["field"] == "lexicons"


async def test_limits_count_the_spoken_text_not_the_tags() -> None:
    api, _ = app(MAX_TEXT_CHARS="30")
    tagged = "<speak>" + "<break time='1ms'/>".join("abcd" for _ in range(4)) + "</speak>"  # 16 spoken, 91 written
    reply = await submit(api, text=tagged, textType="ssml")
    assert reply.status == 202, data(reply)
    assert data(reply)["textType"] == "ssml"
    spoken = await submit(api, text="<speak>" + "a" * 31 + "</speak>", textType="ssml")
    assert spoken.status == 422 and data(spoken)["error"]["spokenChars"] == 31
    # the document itself is bounded too (it is stored in one Durable Object row): 4 bytes a character
    bloated = await submit(api, text="<speak>a" + "<mark name='m'/>" * 8 + "</speak>", textType="ssml")
    assert bloated.status == 422 and data(bloated)["error"]["maxBytes"] == 120
    nothing = await submit(api, text="<speak><break time='1s'/></speak>", textType="ssml")
    assert nothing.status == 422 and "nothing to speak" in data(nothing)["error"]["message"]


async def test_pauses_need_a_format_silence_can_be_added_to() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x")
    reply = await submit(api, text="<speak>a<break time='1s'/>b</speak>", textType="ssml", model="openai/tts-1", format="opus")
    assert reply.status == 422 and data(reply)["error"]["field"] == "format"
    assert data(reply)["error"]["allowed"] == ["wav", "pcm", "mp3"]
    assert (await submit(api, text="<speak>a b</speak>", textType="ssml", model="openai/tts-1", format="opus")).status == 202


async def test_models_say_what_ssml_does_on_each() -> None:
    api, _ = app(OPENAI_API_KEY="sk-x")
    models = {m["id"]: m for m in data(await send(api, "GET", "/v1/models"))["models"]}
    assert models["tone"]["ssml"]["phonemes"] == [] and models["tone"]["ssml"]["prosodyRate"] == "as the request's speed"
    assert models["openai/tts-1"]["ssml"]["prosodyRate"] == "as the request's speed"
    assert "ignored" in models["openai/tts-1"]["ssml"]["emphasis"]
    # Breaks: where silence can be added, formats encoded here from the model's PCM included.
    assert models["openai/tts-1"]["ssml"]["breaks"] == "exact silence (mp3, wav, pcm)"
    unpaced = tone_spec().model_copy(update={"speed_range": None, "formats": ["wav", "pcm", "opus"], "encoded_formats": ["opus"]})
    assert "ignored" in ssml_support(unpaced)["prosodyRate"]
    assert ssml_support(unpaced)["breaks"] == "exact silence (wav, pcm, opus)"


async def test_openapi_lists_the_lexicon_routes() -> None:
    api, _ = app()
    document = data(await send(api, "GET", "/openapi.json"))
    assert {"put", "get", "delete"} <= set(document["paths"]["/v1/lexicons/{name}"])
    assert "get" in document["paths"]["/v1/lexicons"]
    create = document["components"]["schemas"]["CreateJobRequest"]["properties"]
    assert {"textType", "lexicons"} <= set(create)


async def test_the_speech_route_takes_ssml_and_lexicons_with_openai_errors() -> None:
    api, _ = app()
    bad = await send(
        api, "POST", "/v1/audio/speech",
        json.dumps({"model": "tone", "voice": "alloy", "input": "<speak>\n<break time='x'/></speak>",
                    "textType": "ssml"}).encode(), "application/json",
    )
    error = data(bad)["error"]
    assert bad.status == 400 and error["param"] == "input" and error["code"] == "invalid_ssml"
    assert "(line 2, column 1)" in error["message"]
    unknown = await send(
        api, "POST", "/v1/audio/speech",
        json.dumps({"model": "tone", "voice": "alloy", "input": "hi", "lexicons": ["nope"]}).encode(), "application/json",
    )
    assert unknown.status == 400 and data(unknown)["error"]["param"] == "lexicons"
