"""The first ten minutes, as a new user meets them: the default model, the errors, the dev server's log.

On both runtimes: the default is the best model the runtime can run (espeak
locally, where libespeak-ng loads; tone on workerd, where it cannot), and
``/v1/models`` says which.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.synthesis.espeak import EspeakSynthesizer
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    # DEFAULT_MODEL empty, as in a clean clone: the runtime chooses.
    p = Pipeline(tmp_path_factory.mktemp("first-run"), env={"DEFAULT_MODEL": ""}, runtime=runtime).start()
    yield p
    p.stop()


def expected_default(runtime: str) -> str:
    return "espeak" if runtime == "local" and EspeakSynthesizer.available() else "tone"


def test_models_names_the_default_this_runtime_can_run(pipeline: Pipeline) -> None:
    body = pipeline.request("GET", "/v1/models").json()
    default = expected_default(pipeline.runtime)
    assert body["defaultModel"] == default
    assert [m["id"] for m in body["models"] if m["default"]] == [default]


def test_a_job_without_model_gets_the_default_and_completes(pipeline: Pipeline) -> None:
    job = pipeline.submit("Hello from the pipeline")
    assert job["model"] == expected_default(pipeline.runtime)
    done = pipeline.wait(job["jobId"])
    assert done["status"] == "completed", done


def test_unknown_model_lists_only_models_usable_here(pipeline: Pipeline) -> None:
    available = [m["id"] for m in pipeline.request("GET", "/v1/models").json()["models"]]
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "model": "nope"})
    error = reply.json()["error"]
    assert reply.status == 422 and error["field"] == "model"
    assert error["allowed"] == available  # not every cloud model the code knows
    assert "openai/tts-1" not in error["message"]


def test_unconfigured_model_says_what_it_needs(pipeline: Pipeline) -> None:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "model": "openai/tts-1"})
    error = reply.json()["error"]
    assert reply.status == 422 and "needs OPENAI_API_KEY" in error["message"], error


def test_text_too_long_gives_the_limit_not_an_empty_allowed_list(pipeline: Pipeline) -> None:
    models = {m["id"]: m for m in pipeline.request("GET", "/v1/models").json()["models"]}
    limit = models["tone"]["maxJobChars"]
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "x" * (limit + 1), "model": "tone"})
    error = reply.json()["error"]
    assert reply.status == 422 and error["code"] == "text_too_long" and error["field"] == "text"
    assert error["maxChars"] == limit and "allowed" not in error
