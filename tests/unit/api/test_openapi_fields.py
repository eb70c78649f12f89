"""``/openapi.json`` says what every field of a job means (a reader of the document needs no other page)."""

from __future__ import annotations

from shared.api.openapi import openapi_document


def test_every_job_field_has_a_description() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for name in ("JobView", "JobProgress"):
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
