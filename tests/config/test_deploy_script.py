"""``tts-pipeline deploy`` runs its steps for real against a fake wrangler that keeps a log.

The fake stands in for Cloudflare: it records each call (arguments, working
directory, stdin) and answers as wrangler does when a queue already exists,
or when a deploy fails. The vendor step is the real one (offline).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tooling import deploy
from tests.tiers import tier_unavailable

ROOT = Path(__file__).resolve().parents[2]
FAKE = textwrap.dedent(
    """
    import json, os, sys
    args = sys.argv[1:]
    stdin = "" if sys.stdin.isatty() else sys.stdin.read()
    with open(os.environ["FAKE_WRANGLER_LOG"], "a") as log:
        log.write(json.dumps({"args": args, "cwd": os.getcwd(), "stdin": stdin}) + "\\n")
    if args[:3] == ["queues", "create", "tts-jobs"]:
        print("X [ERROR] A request to the Cloudflare API failed. Queue name 'tts-jobs' is already taken")
        sys.exit(1)
    if args == ["deploy"] and os.path.basename(os.getcwd()) == os.environ.get("FAKE_WRANGLER_FAIL_DEPLOY"):
        print("X [ERROR] deploy failed")
        sys.exit(1)
    print("ok")
    """
)


@pytest.fixture(scope="module")
def wheels() -> None:
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", sys.executable)}
    done = subprocess.run(["bash", str(ROOT / "tools/setup_pyodide_env.sh")], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tier_unavailable("wasm wheels unavailable: tools/setup_pyodide_env.sh failed")


@pytest.fixture
def fake_wrangler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "fake_wrangler.py"
    script.write_text(FAKE)
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("FAKE_WRANGLER_LOG", str(log))
    monkeypatch.setenv("API_TOKENS", "alice:token-value-on-stdin-only")
    monkeypatch.setenv("SIGNING_KEY", "signing-value-on-stdin-only-0123456789")
    for name in ("OPENAI_API_KEY", "ELEVENLABS_API_KEY", "GEMINI_API_KEY", "SIGNING_KEY_PREVIOUS",
                 "SIGNING_KEY_PREVIOUS_UNTIL", "FAKE_WRANGLER_FAIL_DEPLOY"):
        monkeypatch.delenv(name, raising=False)
    return script


def calls(fake: Path) -> list[dict]:
    return [json.loads(line) for line in (fake.parent / "calls.jsonl").read_text().splitlines()]


def run(fake: Path) -> list[str]:
    out: list[str] = []
    deploy.run(argparse.Namespace(dry_run=False, wrangler=f"{sys.executable} {fake}"), out=out.append)
    return out


def test_deploy_runs_every_step_in_order_and_an_existing_queue_is_done(wheels: None, fake_wrangler: Path) -> None:
    out = run(fake_wrangler)

    made = [(c["args"], Path(c["cwd"]).name) for c in calls(fake_wrangler)]
    assert [a for a, _ in made[:5]] == [
        ["r2", "bucket", "create", "tts-audio-results"],
        ["queues", "create", "tts-jobs"],
        ["queues", "create", "tts-chunks"],
        ["queues", "create", "tts-jobs-dlq"],
        ["queues", "create", "tts-webhooks"],
    ]
    assert made[5][0][:4] == ["r2", "bucket", "lifecycle", "set"]
    assert [(a, w) for a, w in made[6:] if a[0] == "secret"] == [
        (["secret", "put", "API_TOKENS"], "api"),
        (["secret", "put", "SIGNING_KEY"], "api"),
        (["secret", "put", "SIGNING_KEY"], "synth_consumer"),
    ]
    assert [w for a, w in made if a == ["deploy"]] == ["api", "synth_consumer", "reaper"]
    assert "  already exists: done" in out
    assert all((ROOT / "workers" / w / "python_modules" / "pydantic_core").is_dir() for w in deploy.DEPLOY_ORDER)


def test_secrets_reach_wrangler_on_stdin_only(wheels: None, fake_wrangler: Path) -> None:
    out = run(fake_wrangler)

    secret_calls = [c for c in calls(fake_wrangler) if c["args"][0] == "secret"]
    assert {c["args"][2]: c["stdin"] for c in secret_calls} == {
        "API_TOKENS": os.environ["API_TOKENS"],
        "SIGNING_KEY": os.environ["SIGNING_KEY"],
    }
    everything_shown = json.dumps([c["args"] for c in calls(fake_wrangler)]) + "\n".join(out)
    assert os.environ["API_TOKENS"] not in everything_shown
    assert os.environ["SIGNING_KEY"] not in everything_shown


def test_a_failed_deploy_stops_before_the_next_worker(
    wheels: None, fake_wrangler: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_WRANGLER_FAIL_DEPLOY", "synth_consumer")

    with pytest.raises(deploy.DeployError, match="deploy tts-synth-consumer"):
        run(fake_wrangler)

    assert [Path(c["cwd"]).name for c in calls(fake_wrangler) if c["args"] == ["deploy"]] == ["api", "synth_consumer"]
