"""OpenAI's own OpenAPI document for ``POST /audio/speech`` drives requests at our route, on both runtimes.

tests/openai_spec/audio_speech.openapi.json is the operation and the schemas it references, as published
in openai/openai-openapi (its ``info.x-source`` names the commit and the document's version). Schemathesis
generates bodies from OpenAI's ``CreateSpeechRequest`` (and, in negative mode, bodies that break it) and
sends them to ``/v1/audio/speech``. Every answer must be:

- never a 5xx (schemathesis' ``not_a_server_error``), and a 4xx for a body OpenAI's schema refuses
  (``negative_data_rejection``);
- a 200's body what was asked: the magic of ``response_format`` (OpenAI's default ``mp3`` where the runtime
  makes it), or, with ``stream_format: "sse"``, events each valid against OpenAI's
  ``CreateSpeechResponseStreamEvent``, the last ``speech.audio.done``.

Left out, on purpose: OpenAI's document lists only 200 and 429 (we answer 400s for a voice or format a
model lacks) and ``application/octet-stream`` for the audio (its own server answers ``audio/mpeg``), so
``status_code_conformance`` and ``content_type_conformance`` would judge OpenAI's document, not us.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs  # schemathesis' own JSON Schema validator
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from shared.api.sse import parse
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

TOKEN = "openai-spec-token-0123456789"
SPEC = Path(__file__).resolve().parent.parent / "openai_spec" / "audio_speech.openapi.json"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))
MAGIC = {
    "mp3": lambda b: b[:3] == b"ID3" or (len(b) > 1 and b[0] == 0xFF and b[1] & 0xE0 == 0xE0),
    "opus": lambda b: b[:4] == b"OggS",
    "aac": lambda b: len(b) > 1 and b[0] == 0xFF and b[1] & 0xF6 == 0xF0,
    "flac": lambda b: b[:4] == b"fLaC",
    "wav": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE",
    "pcm": lambda b: len(b) % 2 == 0,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    env = {"API_TOKENS": f"fuzz:{TOKEN}", "JOB_RATE_LIMIT": "0", "MAX_JOBS_IN_FLIGHT": "0"}
    p = Pipeline(tmp_path_factory.mktemp("openai-spec"), env=env, runtime=runtime).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(SPEC.read_text(encoding="utf-8"))


def test_the_copy_names_its_source(document: dict[str, Any]) -> None:
    source = document["info"]["x-source"]
    assert source["repository"] == "openai/openai-openapi" and len(source["commit"]) == 40
    assert set(document["paths"]) == {"/audio/speech"}
    assert document["paths"]["/audio/speech"]["post"]["operationId"] == "createSpeech"


def event_validator(document: dict[str, Any]) -> Any:
    schema = {"$ref": "#/components/schemas/CreateSpeechResponseStreamEvent", "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(schema)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_openais_speech_document_against_our_route(served: Pipeline, document: dict[str, Any], mode: GenerationMode) -> None:
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=f"http://127.0.0.1:{served.port}/v1")
    operation = schema["/audio/speech"]["POST"]
    load_all_checks()
    selected = CHECKS.get_by_names(["not_a_server_error", "negative_data_rejection"])
    validator = event_validator(document)
    local = served.runtime == "local"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=selected, timeout=60)
        if response.status_code != 200:
            assert 400 <= response.status_code < 500, response.text[:300]
            return
        body = case.body if isinstance(case.body, dict) else {}
        if body.get("stream_format") == "sse":
            events = [json.loads(e["data"]) for e in parse(response.content)]
            assert events and events[-1]["type"] == "speech.audio.done", events[-1:]
            for event in events:
                validator.validate(event)
            return
        fmt = body.get("response_format") or ("mp3" if local else "wav")
        assert MAGIC[fmt](response.content), (fmt, response.content[:16])

    run()
