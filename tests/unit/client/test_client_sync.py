"""The synchronous client against the local runtime as a real process on loopback."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import Pipeline
from tts_client import ApiError, Client, JobStatus, JobView

pytestmark = pytest.mark.slow

TOKEN = "alice-token"
OTHER = "bob-token"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path_factory.mktemp("client"), env={"API_TOKENS": f"alice:{TOKEN},bob:{OTHER}"}).start()
    yield p
    p.stop()


@pytest.fixture
def client(pipeline: Pipeline) -> Client:
    return Client(f"http://127.0.0.1:{pipeline.port}", TOKEN)


def test_submit_wait_download_round_trip(client: Client, tmp_path: Path) -> None:
    job = client.submit("Hello from the Python client", model="tone", voice="high")
    assert job.status is JobStatus.QUEUED and job.voice_id == "high"

    seen: list[JobView] = []
    done = client.wait(job.job_id, timeout=60, on_update=seen.append)

    assert done.status is JobStatus.COMPLETED
    assert seen[-1] == done and all(v.job_id == job.job_id for v in seen)
    target = tmp_path / "hello.wav"
    info = client.download(done, target)
    data = target.read_bytes()
    assert data[:4] == b"RIFF" and info.size_bytes == len(data) == done.size_bytes
    assert info.content_type == "audio/wav"
    assert [p.name for p in tmp_path.iterdir()] == ["hello.wav"]  # no .part file left behind


def test_download_to_a_path_gets_the_usual_permissions(client: Client, tmp_path: Path) -> None:
    done = client.wait(client.submit("perm", model="tone").job_id, timeout=60)
    umask = os.umask(0)
    os.umask(umask)
    target = tmp_path / "a.wav"
    client.download(done.job_id, target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_download_into_a_file_object_and_as_bytes(client: Client) -> None:
    done = client.wait(client.submit("bytes", model="tone").job_id, timeout=60)
    buffer = io.BytesIO()
    client.download(done.job_id, buffer)
    assert buffer.getvalue() == client.audio_bytes(done)
    assert len(buffer.getvalue()) == done.size_bytes


def test_failed_download_leaves_no_file(client: Client, tmp_path: Path) -> None:
    target = tmp_path / "never.wav"
    with pytest.raises(ApiError) as caught:
        client.download("0" * 32, target)
    assert caught.value.status == 404
    assert list(tmp_path.iterdir()) == []


def test_validation_error_names_the_field_and_what_is_allowed(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.submit("hi", model="no-such-model")
    error = caught.value
    assert (error.status, error.code, error.field) == (422, "validation_error", "model")
    assert "tone" in error.details["allowed"]
    assert not error.transient


def test_missing_token_is_a_401_api_error(pipeline: Pipeline) -> None:
    with pytest.raises(ApiError) as caught:
        Client(f"http://127.0.0.1:{pipeline.port}").list_jobs()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_list_and_iterate_follow_the_cursor_and_stay_within_the_tenant(pipeline: Pipeline) -> None:
    bob = Client(f"http://127.0.0.1:{pipeline.port}", OTHER)
    ids = [bob.submit(f"job {i}", model="tone").job_id for i in range(5)]

    first = bob.list_jobs(limit=2)
    assert [j.job_id for j in first.jobs] == ids[::-1][:2] and first.next_cursor
    assert [j.job_id for j in bob.iter_jobs(page_size=2)] == ids[::-1]


def test_delete_removes_the_job(client: Client) -> None:
    job = client.submit("gone soon", model="tone")
    client.delete(job.job_id)
    with pytest.raises(ApiError) as caught:
        client.get(job.job_id)
    assert caught.value.status == 404


def test_models_lists_the_catalogue(client: Client) -> None:
    models = {m.id: m for m in client.models()}
    assert "tone" in models
    assert models["tone"].default_voice in models["tone"].voices
    assert "wav" in models["tone"].formats


def test_wait_raises_at_once_on_an_unknown_job(client: Client) -> None:
    with pytest.raises(ApiError) as caught:
        client.wait("f" * 32, timeout=60)
    assert caught.value.status == 404
