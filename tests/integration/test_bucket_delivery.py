"""Delivery of a job's audio to a presigned PUT URL (``deliver``), on both runtimes over loopback.

A loopback receiver plays the customer's bucket: it records each PUT and
answers as scripted. Retries are immediate (``DELIVERY_RETRY_BASE_SECONDS=0``)
and capped at 3 attempts, so the failure path is seconds away.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.harness import Pipeline
from tests.integration.webhook_receiver import Delivery, Receiver, receiving

pytestmark = pytest.mark.slow

TOKEN = "dora-token-0123456789"
SIGNING_KEY = "delivery-signing-key-0123456789abcdef"
SECRET_QUERY = "X-Amz-Signature=c0ffee5ecret0123456789"
SECRET_HEADER = "sekrit-header-value-42"


@pytest.fixture(scope="module")
def receiver(runtime: str) -> Iterator[Receiver]:
    """One receiver a runtime: each run's requests are its own."""
    with receiving(Receiver()) as r:
        yield r


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, runtime: str) -> Iterator[Pipeline]:
    p = Pipeline(
        tmp_path_factory.mktemp("bucket-delivery"),
        env={
            "API_TOKENS": f"dora:{TOKEN}",
            "SIGNING_KEY": SIGNING_KEY,
            # Only here: the loopback receiver is plain http on 127.0.0.1.
            "WEBHOOK_ALLOWED_SCHEMES": "https,http",
            "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
            "WEBHOOK_RETRY_BASE_SECONDS": "0",
            "DELIVERY_MAX_ATTEMPTS": "3",
            "DELIVERY_RETRY_BASE_SECONDS": "0",
            "SYNTHESIS_CACHE": "tenant",  # the harness turns it off; each test here speaks its own text
        },
        runtime=runtime,
    ).start()
    yield p
    p.stop()


def view(pipeline: Pipeline, job_id: str) -> dict[str, Any]:
    reply = pipeline.request("GET", f"/v1/jobs/{job_id}", token=TOKEN)
    assert reply.status == 200, reply.body
    return reply.json()


def settled(pipeline: Pipeline, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job = view(pipeline, job_id)
        if job["delivery"]["state"] in ("delivered", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def submit(pipeline: Pipeline, text: str, **fields: Any) -> dict[str, Any]:
    reply = pipeline.request("POST", "/v1/jobs", json_body={"text": text, **fields}, token=TOKEN)
    assert reply.status == 202, reply.body
    return reply.json()


def test_the_bucket_gets_the_bytes_of_audio_with_the_given_headers(pipeline: Pipeline, receiver: Receiver) -> None:
    url = receiver.url(f"/bucket/ok.wav?{SECRET_QUERY}")
    job = submit(pipeline, "Delivered to your bucket.", deliver={"url": url, "headers": {"x-amz-meta-job": "one"}})
    assert job["delivery"] == {"state": "pending", "attempts": 0}
    done = settled(pipeline, job["jobId"])
    assert done["status"] == "completed"
    assert done["delivery"] == {"state": "delivered", "attempts": 1}
    audio = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
    [put] = receiver.at(f"/bucket/ok.wav?{SECRET_QUERY}")
    assert put.method == "PUT"
    assert put.body == audio.body and len(put.body) == done["sizeBytes"] > 1000
    assert put.headers["content-length"] == str(len(audio.body))  # a known length, never chunked
    assert "transfer-encoding" not in put.headers
    assert put.headers["content-type"] == "audio/wav"
    assert put.headers["x-amz-meta-job"] == "one"


def test_a_flaky_bucket_is_retried_while_the_job_stays_completed(pipeline: Pipeline, receiver: Receiver) -> None:
    path = "/bucket/flaky.wav"
    receiver.script[path] = [503, 500, 200]
    seen: list[tuple[str, str, int]] = []

    def look(delivery: Delivery) -> None:
        if delivery.path == path:
            job = view(pipeline, job_id)
            seen.append((job["status"], job["delivery"]["state"], job["delivery"]["attempts"]))

    job_id = ""
    receiver.on_request = look
    try:
        job = submit(pipeline, "Try, try again.", deliver={"url": receiver.url(path)})
        job_id = job["jobId"]
        done = settled(pipeline, job_id)
    finally:
        receiver.on_request = None
    assert done["delivery"] == {"state": "delivered", "attempts": 3}
    assert done["status"] == "completed"
    # While each PUT is under way the job is completed and its delivery is delivering.
    assert seen == [("completed", "delivering", 1), ("completed", "delivering", 2), ("completed", "delivering", 3)]
    assert len(receiver.at(path)) == 3
    assert len({d.body for d in receiver.at(path)}) == 1


def test_a_bucket_that_always_fails_ends_failed_after_the_bound(pipeline: Pipeline, receiver: Receiver) -> None:
    path = "/bucket/down.wav"
    receiver.script[path] = [403]
    job = submit(pipeline, "Nobody is home.", deliver={"url": receiver.url(path)})
    done = settled(pipeline, job["jobId"])
    assert done["status"] == "completed"
    assert done["delivery"] == {"state": "failed", "attempts": 3, "lastError": "HTTP 403"}
    time.sleep(1.0)  # no fourth attempt comes
    assert len(receiver.at(path)) == 3


def test_the_webhook_says_when_the_delivery_ended(pipeline: Pipeline, receiver: Receiver) -> None:
    job = submit(pipeline, "Tell me when it is there.", webhookUrl=receiver.url("/hook/ended"),
                 deliver={"url": receiver.url("/bucket/announced.wav")})
    settled(pipeline, job["jobId"])
    hooks = receiver.wait_for("/hook/ended", 2)
    events = {json.loads(h.body)["type"]: json.loads(h.body)["data"] for h in hooks}
    assert set(events) == {"job.completed", "job.delivery"}
    assert events["job.delivery"]["delivery"]["state"] == "delivered"
    assert events["job.completed"]["status"] == events["job.delivery"]["status"] == "completed"


def test_a_job_completed_at_submit_from_the_cache_is_delivered(pipeline: Pipeline, receiver: Receiver) -> None:
    text = "Spoken once, delivered twice."
    first = submit(pipeline, text, deliver={"url": receiver.url("/bucket/first.wav")})
    settled(pipeline, first["jobId"])
    reply = pipeline.request("POST", "/v1/jobs", token=TOKEN,
                             json_body={"text": text, "deliver": {"url": receiver.url("/bucket/second.wav")}})
    assert reply.status == 200 and reply.json()["cache"]["hit"] is True, reply.body
    done = settled(pipeline, reply.json()["jobId"])
    assert done["status"] == "completed" and done["delivery"] == {"state": "delivered", "attempts": 1}
    [one], [two] = receiver.at("/bucket/first.wav"), receiver.at("/bucket/second.wav")
    assert one.body == two.body == pipeline.request("GET", f"/v1/jobs/{done['jobId']}/audio", token=TOKEN).body


def test_private_and_malformed_targets_are_refused_at_submit(pipeline: Pipeline) -> None:
    for url in ("http://127.0.0.2/x", "https://169.254.169.254/latest", "https://localhost/x", "https://10.0.0.1/b",
                "https://[::1]/", "ftp://bucket.example.com/"):
        reply = pipeline.request("POST", "/v1/jobs", json_body={"text": "hi", "deliver": {"url": url}}, token=TOKEN)
        assert reply.status == 422, url
        error = reply.json()["error"]
        assert error["code"] == "unsafe_deliver_url" and error["field"] == "deliver.url"
    for headers in ({"Host": "evil.example"}, {"Content-Length": "1"}, {"Transfer-Encoding": "chunked"},
                    {"x-bad": "a\r\nb"}, {f"x-{i}": "v" for i in range(21)}):
        reply = pipeline.request(
            "POST", "/v1/jobs", json_body={"text": "hi", "deliver": {"url": "https://bucket.example.com/k",
                                                                    "headers": headers}}, token=TOKEN)
        assert reply.status == 422, headers
        assert reply.json()["error"]["field"] == "deliver.headers"


def test_the_url_and_headers_are_never_shown_or_logged(pipeline: Pipeline, receiver: Receiver) -> None:
    path = f"/bucket/secret.wav?{SECRET_QUERY}"
    receiver.script[path] = [500, 200]
    job = submit(pipeline, "Keep it secret.", webhookUrl=receiver.url("/hook/secret"),
                 deliver={"url": receiver.url(path), "headers": {"x-amz-meta-token": SECRET_HEADER}})
    done = settled(pipeline, job["jobId"])
    assert done["delivery"]["state"] == "delivered"
    receiver.wait_for("/hook/secret", 2)
    listing = pipeline.request("GET", "/v1/jobs", token=TOKEN)
    events = pipeline.request("GET", f"/v1/jobs/{job['jobId']}/events", token=TOKEN, headers={"Accept": "text/event-stream"})
    hooks = b"".join(d.body for d in receiver.at("/hook/secret"))
    time.sleep(1.5)  # the local runtime flushes its log buffer every second
    shown = {
        "submit answer": json.dumps(job),
        "job view": json.dumps(done),
        "list": listing.body.decode(),
        "events": events.body.decode(errors="replace") if events.status == 200 else "",
        "webhooks": hooks.decode(),
        "logs": "".join(pipeline.log_lines),
    }
    for secret in ("c0ffee5ecret", SECRET_HEADER, "/bucket/secret.wav"):
        for where, text in shown.items():
            assert secret not in text, f"{secret!r} shown in the {where}"
    assert "delivery_retry" in shown["logs"] or pipeline.runtime == "workerd"  # the logs were looked at


@pytest.mark.local_only("kill -9 mid-upload and a restart on the same data dir: the local runtime's own queue and shards")
def test_an_upload_cut_by_a_crash_is_made_again_after_the_restart(
    tmp_path_factory: pytest.TempPathFactory, receiver: Receiver, runtime: str
) -> None:
    path = "/bucket/crash.wav"
    arrived, release = threading.Event(), threading.Event()

    def hold_the_first(delivery: Delivery) -> None:
        if delivery.path == path and not arrived.is_set():
            arrived.set()
            release.wait(30)  # the runtime is killed meanwhile: this answer goes nowhere

    data_dir = tmp_path_factory.mktemp("bucket-crash")
    env = {"API_TOKENS": f"dora:{TOKEN}", "WEBHOOK_ALLOWED_SCHEMES": "https,http", "WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
           "DELIVERY_RETRY_BASE_SECONDS": "0", "QUEUE_VISIBILITY_TIMEOUT": "2"}
    first = Pipeline(data_dir, env=env, runtime=runtime).start()
    receiver.on_request = hold_the_first
    try:
        job = submit(first, "Cut short.", deliver={"url": receiver.url(path)})
        assert arrived.wait(30)
        during = view(first, job["jobId"])
        assert during["status"] == "completed" and during["delivery"] == {"state": "delivering", "attempts": 1}
        first.kill()
    finally:
        receiver.on_request = None
        release.set()
    second = Pipeline(data_dir, env=env, runtime=runtime).start()
    try:
        done = settled(second, job["jobId"])
        assert done["status"] == "completed" and done["delivery"] == {"state": "delivered", "attempts": 2}
        audio = second.request("GET", f"/v1/jobs/{job['jobId']}/audio", token=TOKEN)
        puts = receiver.at(path)
        assert len(puts) == 2 and puts[-1].body == audio.body
    finally:
        second.stop()
