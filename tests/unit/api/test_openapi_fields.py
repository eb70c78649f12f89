"""``/openapi.json`` says what every field of a job means (a reader of the document needs no other page)."""

from __future__ import annotations

from shared.api.openapi import openapi_document


def test_every_job_field_has_a_description() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for name in ("JobView", "JobProgress", "CacheView"):
        missing = [field for field, schema in schemas[name]["properties"].items() if not schema.get("description")]
        assert missing == [], f"{name} fields without a description: {missing}"


def test_characters_says_what_is_counted_and_why_it_can_differ_from_the_text() -> None:
    described = openapi_document()["components"]["schemas"]["JobView"]["properties"]["characters"]["description"]
    assert "sent to the provider" in described and "0 until synthesis starts" in described
    assert "a little under the text's length" in described


def test_inputs_gap_and_chapters_are_in_the_document() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    request = schemas["CreateJobRequest"]["properties"]
    assert "inputs" in request and "gapMs" in request and "text" in request
    assert {"type": "integer", "minimum": 0, "maximum": 10_000} in request["gapMs"]["anyOf"]
    assert "silence between two inputs" in request["gapMs"]["description"]
    job_input = schemas["JobInput"]["properties"]
    assert set(job_input) == {"text", "voiceId", "title"}
    assert {"inputCount", "gapMs"} <= set(schemas["JobView"]["properties"])
    assert {"inputsDone", "inputsTotal"} <= set(schemas["JobProgress"]["properties"])
    chapter = schemas["ChapterEntry"]["properties"]
    assert {"index", "title", "start", "end"} <= set(chapter)
    assert "chapters" in schemas["TimingsDocument"]["properties"]
    audio = document["paths"]["/v1/jobs/{job_id}/audio"]["get"]
    assert "input" in [p["name"] for p in audio["parameters"]] and "invalid_input" in audio["responses"]["400"]["description"]
    vtt = document["paths"]["/v1/jobs/{job_id}/captions.vtt"]["get"]
    assert "kind" in [p["name"] for p in vtt["parameters"]]


def test_deliver_and_delivery_are_described() -> None:
    document = openapi_document()
    schemas = document["components"]["schemas"]
    assert set(schemas["DeliverTarget"]["properties"]) == {"url", "headers"}
    for name in ("DeliverTarget", "DeliveryView"):
        missing = [field for field, schema in schemas[name]["properties"].items() if not schema.get("description")]
        assert missing == [], f"{name} fields without a description: {missing}"
    assert schemas["DeliveryView"]["properties"]["state"]["enum"] == ["pending", "delivering", "delivered", "failed"]
    assert "url" not in schemas["DeliveryView"]["properties"]  # the URL is a secret: never in a view
    assert "deliver" in schemas["CreateJobRequest"]["properties"]
    assert "delivery" in schemas["JobView"]["properties"]
    assert "delivery" in schemas["WebhookEvent"]["enum"]
    assert "deliver" not in schemas["SpeechRequest"]["properties"]  # only POST /v1/jobs takes it
    refused = document["paths"]["/v1/jobs"]["post"]["responses"]["422"]["description"]
    assert "unsafe_deliver_url" in refused


def test_the_cache_field_is_described_in_the_job_view_and_the_request() -> None:
    schemas = openapi_document()["components"]["schemas"]
    assert "cache" in schemas["JobView"]["properties"] and "cache" in schemas["CreateJobRequest"]["properties"]
    assert set(schemas["CacheView"]["properties"]) == {"hit", "chunksReused", "chunksTotal"}
    assert "SYNTHESIS_CACHE" in schemas["CreateJobRequest"]["properties"]["cache"]["description"]
