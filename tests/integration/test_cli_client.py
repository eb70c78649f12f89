"""``tts-pipeline submit|wait|status|list|download|delete|models|lexicon`` as a user runs them.

Each command runs as a real process against the local runtime (a process
too) on loopback; the cases the real pipeline reaches only by chance (a
failed job, a job that outlives the timeout) use a scripted fake API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fake_api import Canned, FakeApi, job_json, serve
from tests.integration.harness import Pipeline

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "carol-token"


@dataclass
class Run:
    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode()

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory, runtime: str) -> Iterator[Pipeline]:
    p = Pipeline(tmp_path_factory.mktemp("cli"), env={"API_TOKENS": f"carol:{TOKEN}"}, runtime=runtime).start()
    yield p
    p.stop()


def cli(*args: str, api: str | None = None, token: str | None = TOKEN, stdin: bytes = b"", cwd: Path = ROOT) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_API_")}
    if api is not None:
        env["TTS_API_URL"] = api
    if token is not None:
        env["TTS_API_TOKEN"] = token
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "tts_pipeline", *args],
        input=stdin, capture_output=True, env=env, cwd=cwd, timeout=120,
    )
    return Run(done.returncode, done.stdout, done.stderr.decode())


@pytest.fixture
def url(pipeline: Pipeline) -> str:
    return f"http://127.0.0.1:{pipeline.port}"


def test_submit_prints_only_the_job_id(url: str) -> None:
    run = cli("submit", "Hello there", "-m", "tone", api=url)
    assert run.code == 0, run.stderr
    assert len(run.out.strip()) == 32 and run.out.count("\n") == 1


def test_text_from_stdin_waits_and_saves_the_audio(url: str, tmp_path: Path) -> None:
    target = tmp_path / "hello.wav"
    run = cli("submit", "--wait", "-o", str(target), "-m", "tone", api=url, stdin=b"Hello from stdin\n")
    assert run.code == 0, run.stderr
    job_id = run.out.strip()
    assert target.read_bytes()[:4] == b"RIFF"
    # Not a terminal: progress comes as plain lines on stderr, never on stdout.
    assert f"job {job_id}: completed" in run.stderr and "\r" not in run.stderr
    assert "saved" in run.stderr


def test_text_from_a_file_with_json_output(url: str, tmp_path: Path) -> None:
    text = "Read from a file.\nTwo lines of it."
    source = tmp_path / "speech.txt"
    source.write_text(text + "\n", encoding="utf-8")
    run = cli("submit", "-f", str(source), "--wait", "--json", "-m", "tone", api=url)
    assert run.code == 0, run.stderr
    job = run.json()
    assert job["status"] == "completed" and job["characters"] == len(text)


def test_dash_o_dash_streams_the_audio_to_stdout(url: str) -> None:
    run = cli("submit", "to stdout", "-m", "tone", "-o", "-", api=url)
    assert run.code == 0, run.stderr
    assert run.stdout[:4] == b"RIFF"


def test_status_list_download_delete(url: str, tmp_path: Path) -> None:
    job_id = cli("submit", "a job to manage", "-m", "tone", "--wait", api=url).out.strip()

    status = cli("status", job_id, "--json", api=url)
    assert status.code == 0 and status.json()["status"] == "completed"
    human = cli("status", job_id, api=url)
    assert "completed" in human.out and job_id in human.out

    listed = cli("list", "--json", "--limit", "100", api=url)
    assert job_id in [j["jobId"] for j in listed.json()["jobs"]]
    assert job_id in cli("list", api=url).out

    download = cli("download", job_id, api=url, cwd=tmp_path)
    assert download.code == 0, download.stderr
    assert (tmp_path / f"{job_id}.wav").read_bytes()[:4] == b"RIFF"

    assert cli("delete", job_id, api=url).code == 0
    gone = cli("status", job_id, api=url)
    assert gone.code == 2 and "404" in gone.stderr


def test_an_input_file_is_one_job_of_several_inputs_and_download_takes_one(url: str, tmp_path: Path) -> None:
    dialogue = tmp_path / "dialogue.txt"
    dialogue.write_text("Hello Bob.\n\nHello Alice.\n\nGoodbye now.\n", encoding="utf-8")
    target = tmp_path / "dialogue.wav"
    run = cli("submit", "--input-file", str(dialogue), "--voice", "low", "--voice", "high", "--gap-ms", "200",
              "-m", "tone", "-o", str(target), "--json", api=url)
    assert run.code == 0, run.stderr
    job = run.json()
    assert job["inputCount"] == 3 and job["gapMs"] == 200 and target.read_bytes()[:4] == b"RIFF"
    download = cli("download", job["jobId"], "--input", "1", api=url, cwd=tmp_path)
    assert download.code == 0, download.stderr
    second = (tmp_path / f"{job['jobId']}-input1.wav").read_bytes()
    assert second[:4] == b"RIFF" and 44 < len(second) < len(target.read_bytes())
    book = tmp_path / "book.jsonl"
    book.write_text('{"text": "One.", "title": "First"}\n{"text": "Two.", "voice": "nobody"}\n', encoding="utf-8")
    refused = cli("submit", "--input-file", str(book), "-m", "tone", api=url)
    assert refused.code == 2 and "inputs.1.voiceId" in refused.stderr and "nobody" in refused.stderr


def test_lexicon_commands_and_an_ssml_submit_with_a_lexicon(url: str, tmp_path: Path) -> None:
    pls = tmp_path / "acronyms.pls"
    pls.write_text(
        '<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon" alphabet="ipa"'
        ' xml:lang="en-US"><lexeme><grapheme>W3C</grapheme><alias>World Wide Web Consortium</alias></lexeme></lexicon>'
    )
    put = cli("lexicon", "put", "acronyms", str(pls), api=url)
    assert put.code == 0 and "1 rules" in put.stderr, put.stderr
    assert cli("lexicon", "put", "names", "-", api=url, stdin=b'{"rules": [{"grapheme": "Ng", "alias": "ing"}]}').code == 0
    listed = cli("lexicon", "list", "--json", api=url).json()["lexicons"]
    assert [x["name"] for x in listed] == ["acronyms", "names"]
    assert "W3C -> World Wide Web Consortium" in cli("lexicon", "get", "acronyms", api=url).out
    assert cli("lexicon", "get", "acronyms", "--pls", api=url).out == pls.read_text()
    target = tmp_path / "w3c.wav"
    run = cli("submit", "--ssml", "--lexicon", "acronyms", "--lexicon", "names", "-m", "tone", "--captions",
              str(tmp_path / "w3c.vtt"), "-o", str(target), api=url,
              stdin=b'<speak>The W3C<break time="1s"/>met.</speak>')
    assert run.code == 0, run.stderr
    job = cli("status", run.out.strip(), "--json", api=url).json()
    assert job["textType"] == "ssml" and [x["name"] for x in job["lexicons"]] == ["acronyms", "names"]
    assert "The W3C" in (tmp_path / "w3c.vtt").read_text()
    bad = cli("submit", "--ssml", "-m", "tone", "<speak>unclosed", api=url)
    assert bad.code == 2 and "line 1, column 16" in bad.stderr
    assert cli("lexicon", "delete", "acronyms", "names", api=url).code == 0
    gone = cli("lexicon", "get", "acronyms", api=url)
    assert gone.code == 2 and "404" in gone.stderr


def test_wait_on_an_existing_job(url: str, tmp_path: Path) -> None:
    job_id = cli("submit", "wait for me", "-m", "tone", api=url).out.strip()
    run = cli("wait", job_id, "-o", str(tmp_path / "w.wav"), "--json", api=url)
    assert run.code == 0, run.stderr
    assert run.json()["jobId"] == job_id and (tmp_path / "w.wav").stat().st_size > 0


def test_models_lists_what_can_be_asked_for(url: str) -> None:
    run = cli("models", api=url)
    assert run.code == 0 and "tone" in run.out and "voices:" in run.out
    assert "tone" in [m["id"] for m in cli("models", "--json", api=url).json()["models"]]


def test_flags_override_the_environment(url: str) -> None:
    run = cli("list", "--api", url, "--token", TOKEN, api="http://127.0.0.1:9", token="wrong")
    assert run.code == 0, run.stderr


def test_an_invalid_field_exits_2_naming_it(url: str) -> None:
    run = cli("submit", "hi", "-m", "no-such-model", api=url)
    assert run.code == 2 and "--model: unknown model 'no-such-model'" in run.stderr and run.out == ""
    # the option typed, not the API's field name
    run = cli("submit", "hi", "-m", "tone", "-v", "klingon", api=url)
    assert run.code == 2 and "--voice: model 'tone' has no voice 'klingon'" in run.stderr, run.stderr
    assert "voiceId" not in run.stderr


def test_a_missing_token_exits_2_with_a_hint(url: str) -> None:
    run = cli("list", api=url, token=None)
    assert run.code == 2 and "401" in run.stderr and "--token" in run.stderr


def test_an_unreachable_api_exits_2(tmp_path: Path) -> None:
    with serve(FakeApi()) as gone:
        url = gone.url
    run = cli("status", "a" * 32, api=url)
    assert run.code == 2 and "tts-pipeline status:" in run.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("submit",), b"   \n", "empty"),
        (("submit",), b"\xff\xfe not utf-8", "UTF-8"),
        (("submit", "text", "-f", "x.txt"), b"", "not both"),
        (("submit", "text", "-o", "-", "--json"), b"", "standard output"),
        (("list", "--limit", "0"), b"", "--limit"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], stdin: bytes, message: str) -> None:
    run = cli(*args, api="http://127.0.0.1:9", stdin=stdin)
    assert run.code == 2 and message in run.stderr


def test_a_failed_job_exits_1() -> None:
    job = "c" * 32
    with serve(FakeApi()) as api:
        api.on("GET", f"/v1/jobs/{job}", Canned.json(200, job_json(job, "failed", error="provider refused")))
        run = cli("wait", job, "--json", api=api.url)
    assert run.code == 1 and "provider refused" in run.stderr
    assert run.json()["status"] == "failed"


def test_a_job_that_outlives_the_timeout_exits_3() -> None:
    job = "d" * 32
    with serve(FakeApi()) as api:
        api.on("POST", "/v1/jobs", Canned.json(202, job_json(job, "queued")))
        api.on("GET", f"/v1/jobs/{job}", Canned.json(200, job_json(job, "processing")))
        run = cli("submit", "slow", "--wait", "--timeout", "0.5", "--json", api=api.url)
    assert run.code == 3 and f"tts-pipeline wait {job}" in run.stderr
    assert run.json()["status"] == "processing"


def test_chunk_progress_shows_on_stderr_off_a_terminal(tmp_path: Path) -> None:
    job = "e" * 32
    with serve(FakeApi()) as api:
        api.on("GET", f"/v1/jobs/{job}",
               Canned.json(200, job_json(job, "processing", progress={"done": 1, "total": 3})),
               Canned.json(200, job_json(job, "processing", progress={"done": 2, "total": 3})),
               Canned.json(200, job_json(job, "completed", progress={"done": 3, "total": 3})))
        run = cli("wait", job, api=api.url)
    assert run.code == 0, run.stderr
    assert [line for line in run.stderr.splitlines() if "chunks" in line] == [
        f"job {job}: processing 33% (1/3 chunks)", f"job {job}: processing 66% (2/3 chunks)",
        f"job {job}: completed 100% (3/3 chunks)",
    ]
