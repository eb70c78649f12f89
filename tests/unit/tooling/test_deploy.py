"""``tts-pipeline deploy --dry-run``: every step of a deployment, in order, and no secret value."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pytest

from shared.config import SETTING_NAMES
from tooling import deploy, lifecycle

RULES_FILE = str(Path(tempfile.gettempdir()) / "tts-r2-lifecycle.json")
SECRET_VALUES = {"API_TOKENS": "alice:token-DO-NOT-PRINT", "SIGNING_KEY": "signing-DO-NOT-PRINT-0123456789abcdef"}


@pytest.fixture
def secrets_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in {s for w in map(deploy.secrets_of, deploy.DEPLOY_ORDER) for s in (*w.required, *w.optional)}:
        monkeypatch.delenv(name, raising=False)
    for name, value in SECRET_VALUES.items():
        monkeypatch.setenv(name, value)


def dry_run() -> list[str]:
    lines: list[str] = []
    deploy.run(argparse.Namespace(dry_run=True, wrangler="wrangler"), out=lines.append)
    return "\n".join(lines).splitlines()


def position(lines: list[str], command: str) -> int:
    """The line number of the one command line that is exactly ``command``."""
    matches = [i for i, line in enumerate(lines) if line == command]
    assert len(matches) == 1, (command, matches)
    return matches[0]


def test_dry_run_lists_every_step_in_deployment_order(secrets_env: None) -> None:
    lines = dry_run()

    order = [
        position(lines, "tts-pipeline vendor"),
        position(lines, "wrangler r2 bucket create tts-audio-results"),
        position(lines, "wrangler queues create tts-jobs"),
        position(lines, "wrangler queues create tts-chunks"),
        position(lines, "wrangler queues create tts-jobs-dlq"),
        position(lines, "wrangler queues create tts-webhooks"),
        position(lines, f"wrangler r2 bucket lifecycle set tts-audio-results --file {RULES_FILE} --force"),
        position(lines, "(cd workers/api && printf %s \"$API_TOKENS\" | wrangler secret put API_TOKENS)"),
        position(lines, "(cd workers/api && printf %s \"$SIGNING_KEY\" | wrangler secret put SIGNING_KEY)"),
        position(lines, "(cd workers/synth_consumer && printf %s \"$SIGNING_KEY\" | wrangler secret put SIGNING_KEY)"),
        position(lines, "(cd workers/api && wrangler deploy)"),
        position(lines, "(cd workers/synth_consumer && wrangler deploy)"),
        position(lines, "(cd workers/reaper && wrangler deploy)"),
    ]
    assert order == sorted(order)


def test_dry_run_never_prints_a_secret_value(secrets_env: None) -> None:
    text = "\n".join(dry_run())

    assert all(value not in text for value in SECRET_VALUES.values())


def test_lifecycle_step_uses_the_deployed_max_ttl(secrets_env: None) -> None:
    max_ttl = int(deploy.worker_config("api")["vars"]["MAX_TTL_SECONDS"])
    days = lifecycle.retention_days(max_ttl)

    text = "\n".join(dry_run())

    assert f"audio/ expires after {days} days" in text
    assert f'"maxAge": {days * lifecycle.DAY}' in text


def test_a_missing_required_secret_stops_a_non_interactive_deploy(
    secrets_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("API_TOKENS")

    with pytest.raises(deploy.DeployError, match="API_TOKENS"):
        deploy.plan({"SIGNING_KEY": "x" * 40}, ["wrangler"], interactive=False)


def test_every_worker_deploys_and_the_durable_object_host_first() -> None:
    hosts = [
        name for name in deploy.DEPLOY_ORDER
        if any(not b.get("script_name") for b in deploy.worker_config(name).get("durable_objects", {}).get("bindings", []))
    ]
    workers = sorted(p.name for p in deploy.WORKERS.iterdir() if (p / "wrangler.toml").exists())

    assert sorted(deploy.DEPLOY_ORDER) == workers
    assert hosts == [deploy.DEPLOY_ORDER[0]]


def test_secret_names_are_settings_the_workers_read() -> None:
    settings = SETTING_NAMES
    names = {s for w in map(deploy.secrets_of, deploy.DEPLOY_ORDER) for s in (*w.required, *w.optional)}

    assert sorted(names - set(settings)) == []
