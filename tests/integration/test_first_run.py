"""The first ten minutes, as a new user meets them: the default model, the errors, the dev server's log.

On both runtimes a clean clone speaks from its first job: locally the
default is the best model the runtime can run (Piper's neural voice, where
piper-tts is installed, a dependency of the project); on workerd it is the
Workers' own ``DEFAULT_MODEL`` (wrangler.toml: Workers AI's melotts, through
the dev-only stand-in of the AI binding). ``/v1/models`` says which.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.synthesis.espeak import EspeakSynthesizer
from shared.synthesis.piper import piper_available
from tests.integration.harness import Pipeline
from tests.integration.test_cli_client import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    # DEFAULT_MODEL empty, as in a clean clone: the runtime chooses.
    p = Pipeline(tmp_path_factory.mktemp("first-run"), env={"DEFAULT_MODEL": ""}, runtime=runtime).start()
    yield p
    p.stop()


def expected_default(runtime: str) -> str:
    if runtime != "local":
        return "@cf/myshell-ai/melotts"  # workers/*/wrangler.toml; DEFAULT_MODEL="" leaves it
    return "piper" if piper_available() else "espeak" if EspeakSynthesizer.available() else "tone"


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


def test_the_start_log_shows_no_harmless_alarms(pipeline: Pipeline) -> None:
    # workerd's start prints no ENOTFOUND stack (Miniflare's Request.cf download, offline)
    # and no wrangler warning that it does not run crons (this runtime runs the reaper itself).
    log = "".join(pipeline.log_lines)
    assert "ENOTFOUND" not in log and "Unable to fetch the `Request.cf`" not in log
    assert "Scheduled Workers are not automatically triggered" not in log


# --- the command line ------------------------------------------------------------

COMMANDS = ["dev", "submit", "wait", "status", "list", "download", "delete", "models", "lexicon", "bench", "r2",
            "token", "vendor", "deploy"]


def test_version_and_every_help_read_cleanly() -> None:
    version = cli("--version", token=None)
    assert version.code == 0 and version.out.startswith("tts-pipeline ") and version.out.split()[1][0].isdigit()
    for command in [[], *([c] for c in COMMANDS)]:
        run = cli(*command, "--help", token=None)
        assert run.code == 0, (command, run.stderr)
        assert "``" not in run.out and ":class:" not in run.out, (command, run.out)
    dev = " ".join(cli("dev", "--help", token=None).out.split())
    assert "--log-format" in dev and "default 8787" in dev and "this machine only" in dev


def test_submit_takes_every_request_field_as_a_flag(pipeline: Pipeline) -> None:
    url = f"http://127.0.0.1:{pipeline.port}"
    first = cli("submit", "Keyed job", "-m", "tone", "--sample-rate", "16000", "--idempotency-key", "first-run-1",
                "--cancel-after", "600", "--ttl", "3600", "--json", api=url, token=None)
    assert first.code == 0, first.stderr
    job = first.json()
    assert job["sampleRate"] == 16000
    again = cli("submit", "Keyed job", "-m", "tone", "--sample-rate", "16000", "--idempotency-key", "first-run-1",
                "--cancel-after", "600", "--ttl", "3600", api=url, token=None)
    assert again.out.strip() == job["jobId"]  # the same key and body: the first job
    speed = cli("submit", "Fast", "-m", "tone", "--speed", "4.5", api=url, token=None)
    assert speed.code == 2 and "0.25 to 4" in speed.stderr  # the API's own check, one line
    instructions = cli("submit", "Calm", "-m", "tone", "--instructions", "calmly", api=url, token=None)
    assert instructions.code == 2 and "instructions" in instructions.stderr


def test_models_marks_the_default_instead_of_spelling_default_default(pipeline: Pipeline) -> None:
    run = cli("models", api=f"http://127.0.0.1:{pipeline.port}", token=None)
    assert run.code == 0 and "(default default)" not in run.out
    assert f"{expected_default(pipeline.runtime)}  [default]" in run.out and "default*, low, high" in run.out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_refused_connection_says_the_server_may_not_be_running() -> None:
    run = cli("status", "a" * 32, api=f"http://127.0.0.1:{free_port()}", token=None)
    assert run.code == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "connection refused" in run.stderr and "tts-pipeline dev" in run.stderr and "Errno" not in run.stderr


@pytest.mark.local_only("starts a second local dev server on the same port")
def test_a_port_in_use_is_one_line_and_exit_2(pipeline: Pipeline, tmp_path: Path) -> None:
    run = cli("dev", "--port", str(pipeline.port), "--data-dir", str(tmp_path), token=None)
    assert run.code == 2 and len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert f"port {pipeline.port}" in run.stderr and "already in use" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.local_only("the request log is the local runtime's (workerd prints wrangler's)")
def test_text_log_says_where_to_open_and_logs_each_request(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "tts_pipeline", "dev", "--port", str(port), "--data-dir", str(tmp_path),
         "--log-format", "text"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**__import__("os").environ, "CRON_INTERVAL_SECONDS": "0"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.strip() == f"Serving on http://127.0.0.1:{port}/ (open it in a browser)"
        probe = Pipeline(tmp_path, port=port)
        assert probe.request("GET", "/v1/models").status == 200
        for line in process.stdout:
            if "GET /v1/models" in line:
                assert line.split()[1:] == ["GET", "/v1/models", "200", line.split()[4], "ms"], line
                assert not line.startswith("{")
                break
    finally:
        process.terminate()
        process.wait(20)


def readme_block(starts: str) -> str:
    """The README's fenced code block that begins with ``starts``."""
    text = Path(__file__).resolve().parents[2].joinpath("README.md").read_text()
    for block in text.split("```")[1::2]:
        body = block.split("\n", 1)[1] if "\n" in block else ""
        if body.startswith(starts):
            return body
    raise AssertionError(f"README has no code block starting with {starts!r}")


def test_the_readme_speech_examples_run_as_written(pipeline: Pipeline, tmp_path: Path) -> None:
    # The curl and openai SDK examples of README.md, run as they are but for the port.
    port = str(pipeline.port)
    curl = readme_block("curl -s localhost:8787/v1/audio/speech").replace("8787", port)
    subprocess.run(["sh", "-c", curl], cwd=tmp_path, check=True, timeout=120)
    sdk = readme_block("from openai import OpenAI").replace("8787", port)
    subprocess.run([sys.executable, "-c", sdk], cwd=tmp_path, check=True, timeout=120)
    with wave.open(str(tmp_path / "hello.wav")) as w:  # both write it; the jobs below show both ran
        assert w.getnframes() > 0
    listed = pipeline.request("GET", "/v1/jobs?limit=100").json()["jobs"]
    # tts-1 is the default model locally; the api Worker's SPEECH_MODEL_MAP sends it to Workers AI's aura-1.
    speech_model = expected_default("local") if pipeline.runtime == "local" else "@cf/deepgram/aura-1"
    assert sum(1 for j in listed if j["model"] == speech_model) >= 2
