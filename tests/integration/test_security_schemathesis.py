"""Schemathesis against the served /openapi.json on the local runtime process.

Every operation gets schema-valid and schema-violating requests (Hypothesis
generates them from the document); every answer must be a non-5xx that
matches the document: a documented status code, content type, headers and
body schema. Bounded in examples per operation so the suite stays fast.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, reject, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from shared.api.openapi import openapi_document
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

TOKEN = "schemathesis-token-0123456789"
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "30"))  # raise it for a deeper run

# Checks that judge the server against its document; the ones left out need
# knowledge the document cannot carry (which model ids exist, which job ids
# are live), so they would fail on correct 404/422 answers.
CHECK_NAMES = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "ignored_auth",
    "unsupported_method",
    "missing_required_header",
    "allow_header_conformance",
)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    p = Pipeline(
        tmp_path_factory.mktemp("schemathesis"),
        env={
            "API_TOKENS": f"fuzz:{TOKEN}",
            "SIGNING_KEY": "schemathesis-signing-key-0123456789abcdef",
            "JOB_RATE_LIMIT": "0",
            "MAX_JOBS_IN_FLIGHT": "0",
        },
        runtime=runtime,
    ).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def api_schema(served: Pipeline) -> Any:
    base = f"http://127.0.0.1:{served.port}"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    schema.config.update(base_url=base)
    return schema


def checks() -> list[Any]:
    load_all_checks()
    missing = set(CHECK_NAMES) - set(CHECKS.get_all_names())
    assert not missing, f"schemathesis no longer has {missing}"
    return CHECKS.get_by_names(list(CHECK_NAMES))


# One test per operation and mode, named from the document the code builds (the
# server serves the same one; schemathesis' lazy pytest loader does not work with
# this pytest, so the strategy is built inside the test instead).
def _operations() -> list[tuple[str, str, GenerationMode]]:
    out = []
    for path, item in openapi_document()["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            out.append((method.upper(), path, GenerationMode.POSITIVE))
            if item.get("parameters") or op.get("parameters") or op.get("requestBody"):
                # Only operations with inputs can be sent invalid data.
                out.append((method.upper(), path, GenerationMode.NEGATIVE))
    return out


OPERATIONS = _operations()


@pytest.mark.parametrize(
    "method,path,mode", OPERATIONS, ids=[f"{m} {p} {mode.value}" for m, p, mode in OPERATIONS]
)
def test_served_api_conforms_to_its_openapi_document(api_schema: Any, method: str, path: str, mode: GenerationMode) -> None:
    operation = api_schema[path][method]
    selected = checks()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        if any(v is None or v == [] for v in (case.query or {}).values()):
            # `requests` drops such parameters, so the server would get a valid request
            # while schemathesis believes it sent an invalid one.
            reject()
        case.call_and_validate(headers=auth, checks=selected, timeout=30)

    run()
