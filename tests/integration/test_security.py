"""Trust, end to end on both runtimes over loopback: tokens, signed links,
idempotency, webhooks to a loopback receiver, limits, and bad input."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from shared.security.signing import Keyring, sign_audio_link
from shared.security.tokens import api_tokens_entry
from tests.integration.harness import Pipeline
from tests.integration.webhook_receiver import Receiver, receiving

pytestmark = pytest.mark.slow

ALICE, BOB, MALLORY = "alice-token-0123456789", "bob-token-0123456789", "mallory-token-0123456789"
SIGNING_KEY = "integration-signing-key-0123456789abcdef"
SNIPPET_MARK = "<!-- webhook-verify-snippet -->"


def verify_snippet() -> Any:
    """``verify_webhook`` exactly as docs/security.md shows it."""
    doc = (Path(__file__).parents[2] / "docs" / "security.md").read_text()
    after = doc.split(SNIPPET_MARK, 1)[1]
    code = re.search(r"```python\n(.*?)```", after, re.S)
    assert code is not None
    namespace: dict[str, Any] = {}
    exec(compile(code.group(1), "docs/security.md", "exec"), namespace)  # noqa: S102 - our own docs
    return namespace["verify_webhook"]


@pytest.fixture(scope="module")
def receiver(runtime: str) -> Iterator[Receiver]:  # one per runtime: its state must not carry over
    with receiving(Receiver()) as r:
        yield r


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, runtime: str) -> Iterator[Pipeline]:
    tokens = ",".join([api_tokens_entry("alice", ALICE), f"bob:{BOB}", api_tokens_entry("mallory", MALLORY)])
    p = Pipeline(
        tmp_path_factory.mktemp("security"),
        env={
            "API_TOKENS": tokens,
            "SIGNING_KEY": SIGNING_KEY,
            # Only here: the loopback receiver is plain http on 127.0.0.1.
            "WEBHOOK_ALLOWED_SCHEMES": "https,http",
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "WEBHOOK_MAX_ATTEMPTS": "3",
            "WEBHOOK_RETRY_BASE_SECONDS": "0",
            "JOB_RATE_LIMIT": "1000/60",
        },
        runtime=runtime,
    ).start()
    yield p
    p.stop()


def completed(pipeline: Pipeline, token: str = ALICE, **fields: Any) -> dict[str, Any]:
    job = pipeline.submit(token=token, **{"text": "trust me", **fields})
    done = pipeline.wait(job["jobId"], token=token)
    assert done["status"] == "completed", done
    return done


def local_path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# --- tokens -------------------------------------------------------------------------


def test_a_hashed_token_authenticates_and_bad_ones_get_one_identical_401(pipeline: Pipeline) -> None:
    assert pipeline.request("GET", "/v1/jobs", token=ALICE).status == 200
    replies = [
        pipeline.request("GET", "/v1/jobs"),
        pipeline.request("GET", "/v1/jobs", token="nope"),
        pipeline.request("GET", "/v1/jobs", headers={"Authorization": f"Basic {ALICE}"}),
        pipeline.request("GET", "/v1/jobs", token=ALICE[:-1]),
    ]
    assert {r.status for r in replies} == {401}
    assert len({r.body for r in replies}) == 1
    assert {r.headers["www-authenticate"] for r in replies} == {'Bearer realm="tts"'}


def test_scheduled_needs_a_token_once_tokens_are_set(pipeline: Pipeline) -> None:
    assert pipeline.request("GET", "/__scheduled").status == 401
    assert pipeline.request("GET", "/__scheduled", token="guess").status == 401
    assert pipeline.request("GET", "/__scheduled", token=BOB).status == 200


@pytest.mark.local_only("/__meter counts the local bindings' billable operations")
def test_meter_needs_a_token_once_tokens_are_set(pipeline: Pipeline) -> None:
    assert pipeline.request("GET", "/__meter").status == 401
    assert pipeline.request("GET", "/__meter", token=BOB).status == 200


# --- signed links ---------------------------------------------------------------------


def test_signed_audio_url_streams_without_a_token_and_refuses_tampering(pipeline: Pipeline) -> None:
    job = completed(pipeline)
    url = local_path(job["audioUrl"])
    assert "signature=" in url
    public = pipeline.request("GET", url)  # no token: a browser's <audio src>
    owner = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=ALICE)
    assert public.status == 200 and public.body == owner.body and len(public.body) == job["sizeBytes"]
    assert pipeline.request("GET", url, headers={"Range": "bytes=0-9"}).status == 206
    tampered = [
        url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"),
        url.replace("expires=", "expires=1"),
        url.split("&")[0],
        url.replace(job["jobId"], "f" * 32),
    ]
    for path in tampered:
        reply = pipeline.request("GET", path)
        assert reply.status == 403, path
        assert reply.json()["error"]["code"] == "invalid_signature"


def test_expired_and_old_key_links_are_403(pipeline: Pipeline) -> None:
    job = completed(pipeline)
    base = f"/v1/jobs/{job['jobId']}/audio"
    expired = sign_audio_link(Keyring(SIGNING_KEY), job["jobId"], "alice", int(time.time()) - 1)
    reply = pipeline.request("GET", f"{base}?{urlencode(expired)}")
    assert reply.status == 403 and reply.json()["error"]["code"] == "link_expired"
    foreign = sign_audio_link(Keyring("some-other-key-0123456789abcdefghij"), job["jobId"], "alice", int(time.time()) + 600)
    assert pipeline.request("GET", f"{base}?{urlencode(foreign)}").status == 403
    wrong_tenant = sign_audio_link(Keyring(SIGNING_KEY), job["jobId"], "bob", int(time.time()) + 600)
    assert pipeline.request("GET", f"{base}?{urlencode(wrong_tenant)}").status == 403
    good = sign_audio_link(Keyring(SIGNING_KEY), job["jobId"], "alice", int(time.time()) + 600)
    assert pipeline.request("GET", f"{base}?{urlencode(good)}").status == 200


# --- idempotency ------------------------------------------------------------------------


def test_concurrent_repeats_with_one_key_make_one_job(pipeline: Pipeline) -> None:
    replies: list[Any] = []

    def post() -> None:
        replies.append(
            pipeline.request(
                "POST", "/v1/jobs", json_body={"text": "exactly once"}, token=BOB,
                headers={"Idempotency-Key": "concurrent-1"},
            )
        )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in replies).count(202) == 1
    assert {r.status for r in replies} <= {200, 202}
    assert len({r.json()["jobId"] for r in replies}) == 1
    conflict = pipeline.request(
        "POST", "/v1/jobs", json_body={"text": "something else"}, token=BOB, headers={"Idempotency-Key": "concurrent-1"}
    )
    assert conflict.status == 422 and conflict.json()["error"]["code"] == "idempotency_conflict"
    other_tenant = pipeline.request(
        "POST", "/v1/jobs", json_body={"text": "exactly once"}, token=ALICE, headers={"Idempotency-Key": "concurrent-1"}
    )
    assert other_tenant.status == 202 and other_tenant.json()["jobId"] != replies[0].json()["jobId"]


# --- webhooks ----------------------------------------------------------------------------


def test_webhook_is_delivered_signed_and_verifies_with_the_documented_snippet(
    pipeline: Pipeline, receiver: Receiver
) -> None:
    verify_webhook = verify_snippet()
    secret = pipeline.request("GET", "/v1/webhooks/secret", token=ALICE).json()["secret"]
    job = completed(pipeline, webhookUrl=receiver.url("/ok"))
    [delivery] = receiver.wait_for("/ok", 1)
    assert verify_webhook(secret, delivery.headers, delivery.body)
    assert not verify_webhook(secret, delivery.headers, delivery.body + b" ")
    assert not verify_webhook(secret, {**delivery.headers, "webhook-id": "msg_other"}, delivery.body)
    old = {**delivery.headers, "webhook-timestamp": str(int(delivery.headers["webhook-timestamp"]) - 600)}
    assert not verify_webhook(secret, old, delivery.body)
    bob_secret = pipeline.request("GET", "/v1/webhooks/secret", token=BOB).json()["secret"]
    assert not verify_webhook(bob_secret, delivery.headers, delivery.body)
    payload = json.loads(delivery.body)
    assert payload["type"] == "job.completed" and payload["data"]["jobId"] == job["jobId"]
    assert delivery.headers["webhook-id"] == f"msg_{job['jobId']}_completed"
    # The payload's signed audio link works for the receiver, with no token.
    assert pipeline.request("GET", local_path(payload["data"]["audioUrl"])).status == 200
    webhook = webhook_state(pipeline, job["jobId"], ("delivered", "failed"))
    assert webhook["status"] == "delivered" and webhook["lastStatusCode"] == 204


def webhook_state(pipeline: Pipeline, job_id: str, until: tuple[str, ...]) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        webhook = pipeline.request("GET", f"/v1/jobs/{job_id}", token=ALICE).json()["webhook"]
        if webhook["status"] in until or time.monotonic() > deadline:
            return webhook
        time.sleep(0.05)


def test_a_failing_receiver_is_retried_with_the_same_id_until_it_answers(pipeline: Pipeline, receiver: Receiver) -> None:
    receiver.script["/flaky"] = [500, 503, 200]
    job = completed(pipeline, webhookUrl=receiver.url("/flaky"))
    webhook = webhook_state(pipeline, job["jobId"], ("delivered", "failed"))
    assert webhook["status"] == "delivered" and webhook["attempts"] == 3
    deliveries = receiver.at("/flaky")
    assert len(deliveries) == 3 and len({d.headers["webhook-id"] for d in deliveries}) == 1


def test_a_receiver_that_never_answers_2xx_is_marked_failed(pipeline: Pipeline, receiver: Receiver) -> None:
    receiver.script["/down"] = [302]  # a redirect is not followed
    job = completed(pipeline, webhookUrl=receiver.url("/down"))
    webhook = webhook_state(pipeline, job["jobId"], ("failed",))
    assert webhook["status"] == "failed" and webhook["attempts"] == 3 and webhook["lastStatusCode"] == 302
    assert receiver.at("/redirected") == []


def test_event_filter_skips_unwanted_events(pipeline: Pipeline, receiver: Receiver) -> None:
    job = completed(pipeline, webhookUrl=receiver.url("/failures-only"), webhookEvents=["failed"])
    assert job["webhook"]["status"] == "skipped"
    assert receiver.at("/failures-only") == []


def test_private_webhook_targets_are_refused_even_with_the_test_allow_list(pipeline: Pipeline) -> None:
    for url in ("http://127.0.0.2/x", "https://169.254.169.254/latest", "https://localhost/x", "https://10.0.0.1/",
                "https://[::1]/", "ftp://hooks.example.com/"):
        reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "webhookUrl": url}, token=MALLORY)
        assert reply.status == 422, url
        assert reply.json()["error"]["field"] == "webhookUrl"


# --- tenant isolation, odd ids, bad input ---------------------------------------------------


def test_a_token_never_reaches_another_tenants_job(pipeline: Pipeline) -> None:
    job = completed(pipeline, token=ALICE, text="alice's secret words")
    job_id = job["jobId"]
    for method, suffix in (("GET", ""), ("GET", "/audio"), ("GET", "/result"), ("DELETE", ""), ("HEAD", "/audio")):
        reply = pipeline.request(method, f"/v1/jobs/{job_id}{suffix}", token=BOB)
        assert reply.status == 404, (method, suffix)
        assert b"alice" not in reply.body
    for page in ("/v1/jobs?limit=100", "/v1/jobs"):
        assert job_id not in pipeline.request("GET", page, token=BOB).body.decode()
    replay = pipeline.request(
        "POST", "/v1/jobs", json_body={"text": "x"}, token=BOB, headers={"Idempotency-Key": job_id}
    )
    assert replay.status == 202 and replay.json()["jobId"] != job_id
    assert pipeline.request("GET", f"/v1/jobs/{job_id}", token=ALICE).status == 200


def test_waiting_on_another_tenants_job_answers_404_at_once(pipeline: Pipeline) -> None:
    # Alice's job is still being made while Bob waits on it: the 404 comes at once, as for a missing
    # job, on both runtimes (the shard checks the tenant before it waits; tests/unit/api/
    # test_wait_tenancy.py shows it on a job that does not change, where the wait would run its length).
    job = pipeline.submit("many words " * 5_000, token=ALICE, model="tone")
    started = time.monotonic()
    reply = pipeline.request("GET", f"/v1/jobs/{job['jobId']}?wait=4", token=BOB)
    took = time.monotonic() - started
    alices = pipeline.request("GET", f"/v1/jobs/{job['jobId']}", token=ALICE).json()
    assert reply.status == 404 and reply.json()["error"]["code"] == "not_found"
    assert took < 2.0, took
    assert alices["status"] in ("queued", "processing"), "the job finished first: the test proved nothing"
    for value in ("%C2%B2", "%D9%A3", "1_0"):  # superscript two, Arabic-Indic three, an underscore
        odd = pipeline.request("GET", f"/v1/jobs/{job['jobId']}?wait={value}", token=ALICE)
        assert odd.status == 400 and odd.json()["error"]["field"] == "wait", value


@pytest.mark.parametrize(
    "path",
    [
        "/v1/jobs/../../etc/passwd",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd",
        "/v1/jobs/%2e%2e/audio",
        "/v1/jobs/" + "a" * 31,
        "/v1/jobs/" + "a" * 33,
        "/v1/jobs/" + "A" * 32,
        "/v1/jobs/" + "a" * 5000,
        "/v1/jobs/%00" + "a" * 29,
        "/v1/jobs/%E2%80%AE" + "a" * 29,
        "/v1/jobs/" + "a" * 32 + "/audio/../result",
        "/v1/jobs/" + "a" * 32 + "%0d%0aX-Evil:%201/audio",
        "/v1/jobs//audio",
    ],
)
def test_odd_job_ids_and_traversal_are_404(pipeline: Pipeline, path: str) -> None:
    reply = pipeline.request("GET", path, token=MALLORY)
    assert reply.status == 404, (path, reply.status, reply.body)
    assert "x-evil" not in reply.headers
    assert reply.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("field", ["model", "voiceId", "format"])
def test_header_injection_through_names_is_refused(pipeline: Pipeline, field: str) -> None:
    for value in ("tone\r\nX-Evil: 1", "tone\nSet-Cookie: a=b", "wav\r\n\r\n<html>", "tone\u2028x"):
        reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", field: value}, token=MALLORY)
        assert reply.status == 422 and reply.json()["error"]["field"] == field
        assert "x-evil" not in reply.headers and "set-cookie" not in reply.headers


def test_huge_malformed_and_mistyped_bodies_are_4xx_and_leave_nothing(pipeline: Pipeline) -> None:
    post = lambda body, ctype="application/json": pipeline.request(  # noqa: E731
        "POST", "/v1/jobs", body=body, headers={"Content-Type": ctype} if ctype else {}, token=MALLORY
    )
    reset = type("Reset", (), {"status": 413, "body": b"", "json": lambda self: {"error": {"code": "reset"}}})

    def post_huge(body: bytes) -> Any:
        try:
            reply = post(body)
        except ConnectionResetError:
            # wrangler dev answers the 413 from Content-Length and resets the
            # connection while the client is still sending 9 MB; the local
            # runtime's server reads the answer out. Either way nothing is kept.
            assert pipeline.runtime == "workerd"
            return reset()
        if pipeline.runtime == "workerd" and reply.status == 500 and reply.body.startswith(b"Error: Network connection lost"):
            # On a loaded machine wrangler's dev proxy may lose its connection to
            # workerd, which answered 413 and closed while the 9 MB still streamed
            # in: the proxy's own 500, not the api's (seen once under load).
            return reset()
        return reply

    cases = [
        (post(json.dumps({"text": "a" * 700_000}).encode()), 413),
        (post_huge(b'{"text": "' + b"a" * (9 * 1024 * 1024) + b'"}'), 413),
        (post(b"[" * 300_000 + b"]" * 300_000), 400),
        (post(b'{"text": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"), 400),
        (post(b"{nope"), 400),
        (post(b'{"text": "\\ud800"}'), 422),
        (post(b"\xff\xfe\x00"), 400),
        (post(b""), 400),
        (post(b'{"text": "hi"}', "text/plain"), 415),
        (post(b'{"text": "hi"}', "application/x-www-form-urlencoded"), 415),
        (post(b'{"text": "hi"}', None), 415),
        (post(b'{"text": "hi"}', "application/jsonp"), 415),
        (post(b'{"text": "hi", "ttlSeconds": 1e400}'), 422),
        (post(b'{"text": "hi", "ttlSeconds": ' + b"9" * 5000 + b"}"), 400),
        (post(b'{"text": "a", "text": "' + b"b" * 100_001 + b'"}'), 422),
        (post(b'["text"]'), 422),
        (post(b"null"), 422),
    ]
    for index, (reply, status) in enumerate(cases):
        assert reply.status == status, (index, reply.status, reply.body[:200])
        assert reply.json()["error"]["code"]
    cursor = pipeline.request("GET", "/v1/jobs?cursor=WzFlNDAwLCJhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYWFhYSJd", token=MALLORY)
    assert cursor.status == 400
    assert pipeline.request("GET", "/v1/jobs?limit=100", token=MALLORY).json()["jobs"] == []


def test_rate_limit_and_in_flight_cap_answer_429_with_retry_after(tmp_path: Path, runtime: str) -> None:
    p = Pipeline(
        tmp_path,
        env={"API_TOKENS": f"carol:{ALICE}", "SIGNING_KEY": SIGNING_KEY, "JOB_RATE_LIMIT": "3/60", "MAX_JOBS_IN_FLIGHT": "0"},
        runtime=runtime,
    ).start()
    try:
        statuses = [pipeline_post(p) for _ in range(4)]
        assert [s.status for s in statuses] == [202, 202, 202, 429]
        assert 1 <= int(statuses[-1].headers["retry-after"]) <= 60
        assert statuses[-1].json()["error"]["code"] == "rate_limited"
        # Default URL policy here: no allow-list, so loopback webhooks are refused.
        reply = p.request("POST", "/v1/jobs", json_body={"text": "hi", "webhookUrl": "http://127.0.0.1:9/"}, token=ALICE)
        assert reply.status == 422 and reply.json()["error"]["code"] == "unsafe_webhook_url"
    finally:
        p.stop()


def pipeline_post(p: Pipeline) -> Any:
    return p.request("POST", "/v1/jobs", json_body={"text": "hi"}, token=ALICE)
