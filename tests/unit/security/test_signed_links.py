from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qs, urlencode, urlsplit

from shared.jobs.shard import Claim, Complete
from shared.security.signing import Keyring, sign_audio_link
from tests.unit.security.conftest import BOB, SIGNING_KEY, Api, body_of, build_api


async def completed_job(api: Api, token: str | None = None) -> dict:
    kwargs = {"token": token} if token else {}
    job = body_of(await api.call("POST", "/v1/jobs", json_body={"text": "hello"}, **kwargs))
    jobs = api.shards.client
    await jobs.call(Claim(job_id=job["jobId"], lease_seconds=30))
    await api.bucket.put("audio/k.wav", b"RIFF....WAVE", content_type="audio/wav", custom_metadata={})
    await jobs.call(
        Complete(
            job_id=job["jobId"],
            audio_key="audio/k.wav",
            mime_type="audio/wav",
            size_bytes=12,
            etag="e",
            characters=5,
        )
    )
    reply = await api.call("GET", f"/v1/jobs/{job['jobId']}", **kwargs)
    return body_of(reply)


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + "?" + parts.query


async def test_a_completed_jobs_audio_url_works_without_the_token(api: Api) -> None:
    job = await completed_job(api)
    query = parse_qs(urlsplit(job["audioUrl"]).query)
    assert set(query) == {"expires", "t", "signature"}
    reply = await api.call("GET", path_of(job["audioUrl"]), token=None)
    assert reply.status == 200 and reply.headers.get("content-type") == "audio/wav"
    assert reply.headers.get("cache-control", "").startswith("private, max-age=")
    ranged = await api.call("GET", path_of(job["audioUrl"]), token=None, headers={"Range": "bytes=0-3"})
    assert ranged.status == 206


async def test_tampered_links_are_403(api: Api) -> None:
    job = await completed_job(api)
    other = await completed_job(api, token=BOB)
    url = path_of(job["audioUrl"])
    query = parse_qs(urlsplit(job["audioUrl"]).query)
    expires, tag, signature = query["expires"][0], query["t"][0], query["signature"][0]
    bob_tag = parse_qs(urlsplit(other["audioUrl"]).query)["t"][0]
    base = f"/v1/jobs/{job['jobId']}/audio"
    for path in (
        f"{base}?expires={expires}&t={tag}&signature={signature[:-2]}xx",
        f"{base}?expires={int(expires) + 1}&t={tag}&signature={signature}",
        f"{base}?expires={expires}&t={bob_tag}&signature={signature}",
        f"{base}?expires={expires}&t={tag}",
        f"{base}?t={tag}&signature={signature}",
        f"{base}?expires={expires}&signature={signature}",
        f"/v1/jobs/{other['jobId']}/audio?expires={expires}&t={tag}&signature={signature}",  # another tenant's job
        f"/v1/jobs/{'0' * 32}/audio?expires={expires}&t={tag}&signature={signature}",  # no such job
        f"/v1/jobs/..%2F..%2Fetc/audio?expires={expires}&t={tag}&signature={signature}",
        url.replace("signature=", "signature=A"),
    ):
        reply = await api.call("GET", path, token=None)
        assert reply.status == 403, path
        assert body_of(reply)["error"]["code"] == "invalid_signature"


async def test_expired_links_are_403_and_say_so(api: Api) -> None:
    job = await completed_job(api)
    api.clock.advance(api.deps.settings.signed_url_ttl_seconds + 301)
    reply = await api.call("GET", path_of(job["audioUrl"]), token=None)
    assert reply.status == 403 and body_of(reply)["error"]["code"] == "link_expired"
    fresh = body_of(await api.call("GET", f"/v1/jobs/{job['jobId']}"))
    assert (await api.call("GET", path_of(fresh["audioUrl"]), token=None)).status == 200


async def test_links_signed_with_the_previous_key_work_during_the_grace_period() -> None:
    old_key = "o" * 40
    api = build_api()
    job = await completed_job(api)
    now = api.clock.now
    old_link = sign_audio_link(Keyring(old_key), job["jobId"], "alice", int(now) + 600)
    path = f"/v1/jobs/{job['jobId']}/audio?{urlencode(old_link)}"
    assert (await api.call("GET", path, token=None)).status == 403  # not configured: refused
    rotated = replace(api.deps.settings, signing_key_previous=old_key, signing_key_previous_until=now + 300)
    api.deps.settings = rotated
    assert (await api.call("GET", path, token=None)).status == 200
    api.clock.advance(300)
    assert (await api.call("GET", path, token=None)).status == 403  # grace period over


async def test_without_a_signing_key_audio_needs_the_token() -> None:
    api = build_api(signing_key=None)
    job = await completed_job(api)
    assert urlsplit(job["audioUrl"]).query == ""
    assert (await api.call("GET", urlsplit(job["audioUrl"]).path, token=None)).status == 401
    assert (await api.call("GET", urlsplit(job["audioUrl"]).path)).status == 200
    reply = await api.call("GET", urlsplit(job["audioUrl"]).path + "?expires=1&t=x&signature=x", token=None)
    assert reply.status == 403


async def test_a_link_never_outlives_its_job(api: Api) -> None:
    job = await completed_job(api)
    assert (await api.call("DELETE", f"/v1/jobs/{job['jobId']}")).status == 204
    assert (await api.call("GET", path_of(job["audioUrl"]), token=None)).status == 404


async def test_forged_links_cost_no_shard_lookup(api: Api) -> None:
    job = await completed_job(api)
    calls = len(api.shards.calls)
    forged = path_of(job["audioUrl"]).replace("signature=", "signature=A")
    assert (await api.call("GET", forged, token=None)).status == 403
    assert len(api.shards.calls) == calls


async def test_the_signing_key_never_appears_in_responses(api: Api) -> None:
    job = await completed_job(api)
    secret = body_of(await api.call("GET", "/v1/webhooks/secret"))
    for reply in (job, secret):
        assert SIGNING_KEY not in str(reply)


async def test_a_signed_link_takes_the_stream_parameter_openapi_lists(api: Api) -> None:
    job = await completed_job(api)
    for value in ("0", "false", "1", "true"):
        reply = await api.call("GET", f"{path_of(job['audioUrl'])}&stream={value}", token=None)
        assert reply.status == 200 and reply.headers.get("content-type") == "audio/wav", value
    bad = await api.call("GET", f"{path_of(job['audioUrl'])}&stream=2", token=None)
    assert bad.status == 400 and body_of(bad)["error"]["field"] == "stream"
