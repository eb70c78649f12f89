"""Dev wrangler configs: generated from the deployed ones, which stay as they are."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

import pytest

from shared.errors import ConfigError
from tooling.workerd import devconfig

ROOT = Path(__file__).resolve().parents[3]


def test_dev_flags_replace_nothing_secrets_are_left_out_and_ai_is_the_stand_in() -> None:
    config = devconfig.worker_config("synth_consumer", {})
    assert config["compatibility_flags"][: len(devconfig.DEV_FLAGS)] == list(devconfig.DEV_FLAGS)
    assert "enable_abortsignal_rpc" in config["compatibility_flags"]  # the adapter's {signal} over RPC
    assert "ai" not in config and "secrets" not in config  # wrangler would proxy AI to Cloudflare; secrets arrive as vars
    assert {"binding": "AI", "service": "tts-dev-ai", "entrypoint": "WorkersAi"} in config["services"]
    assert "services" not in devconfig.worker_config("reaper", {})  # no AI there
    assert config["main"] == str(ROOT / "workers" / "synth_consumer" / "src" / "entry.py")
    deployed = tomllib.loads((ROOT / "workers" / "synth_consumer" / "wrangler.toml").read_text())
    assert deployed["compatibility_flags"] == ["python_workers"] and "ai" in deployed  # untouched
    assert deployed["secrets"]["required"]


def test_environment_settings_become_vars_and_queue_settings_the_consumer() -> None:
    env = {"SHARD_COUNT": "7", "SIGNING_KEY": "k" * 40, "QUEUE_MAX_RETRIES": "1", "QUEUE_MAX_BATCH_TIMEOUT": "0.2",
           "QUEUE_MAX_CONCURRENCY": "3", "HOME": "/root", "JOB_RATE_LIMIT": "3/60"}
    consumer = devconfig.worker_config("synth_consumer", env)
    assert consumer["vars"]["SHARD_COUNT"] == "7" and consumer["vars"]["SIGNING_KEY"] == "k" * 40
    assert "HOME" not in consumer["vars"]
    queues = {c["queue"]: c for c in consumer["queues"]["consumers"]}
    assert queues["tts-jobs"]["max_retries"] == 1 and queues["tts-jobs"]["max_batch_timeout"] == 0.2
    assert queues["tts-jobs"]["max_concurrency"] == 3
    chunks = queues["tts-chunks"]  # a long job's chunk tasks: the same overrides as the jobs queue
    assert (chunks["max_retries"], chunks["max_batch_timeout"], chunks["max_concurrency"]) == (1, 0.2, 3)
    assert chunks["dead_letter_queue"] == "tts-jobs-dlq"
    assert queues["tts-jobs-dlq"]["max_batch_timeout"] == 0.2 and "max_retries" not in queues["tts-jobs-dlq"]
    assert queues["tts-jobs-dlq"]["max_concurrency"] == 1  # the deployed value
    assert queues["tts-webhooks"]["max_retries"] == 25  # not ours to change
    api = devconfig.worker_config("api", env)
    assert api["ratelimits"][0]["simple"] == {"limit": 3, "period": 60}


def test_run_configs_front_first_private_and_beside_python_modules(tmp_path: Path) -> None:
    paths = devconfig.write_run_configs(tmp_path / "run", {"API_TOKENS": "a:b"}, host="127.0.0.1")
    assert [p.parent.name for p in paths] == ["front", "api", "synth_consumer", "reaper", "ai"]
    standin = json.loads(paths[-1].read_text())
    assert standin["name"] == "tts-dev-ai" and (paths[-1].parent / standin["main"]).is_file()
    paths = paths[:-1]
    front = json.loads(paths[0].read_text())
    assert {s["service"] for s in front["services"]} == {"tts-api", "tts-reaper"}
    assert front["vars"]["REAPER_CRON"] == "*/15 * * * *"
    assert (paths[0].parent / "front.mjs").is_file()
    for path in paths[1:]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        link = path.parent / "python_modules"
        assert link.is_symlink() and link.resolve() == (ROOT / "workers" / path.parent.name / "python_modules").resolve()
    api = json.loads(paths[1].read_text())
    assert "ALLOW_ANONYMOUS" not in api["vars"]  # tokens set: no anonymous calls


def test_anonymous_only_on_loopback_without_tokens(tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost", "[::1]"):
        loopback = devconfig.write_run_configs(tmp_path / "a", {}, host=host)
        assert json.loads(loopback[1].read_text())["vars"]["ALLOW_ANONYMOUS"] == "true"
    public = {"API_TOKENS": "a:" + "t" * 20, "PUBLIC_BASE_URL": "https://tts.example.com"}
    served = devconfig.write_run_configs(tmp_path / "b", public, host="0.0.0.0")
    assert "ALLOW_ANONYMOUS" not in json.loads(served[1].read_text())["vars"]
    with pytest.raises(ConfigError, match="API_TOKENS must be set"):
        devconfig.write_run_configs(tmp_path / "c", {}, host="0.0.0.0")


def test_the_api_serves_the_web_page_folder_as_its_assets() -> None:
    api = devconfig.worker_config("api", {})
    folder = Path(api["assets"]["directory"])
    assert folder.is_absolute() and folder == (ROOT / "shared" / "web").resolve()
    assert {"index.html", "app.js", "style.css", "_headers"} <= {p.name for p in folder.iterdir()}
    assert "binding" not in api["assets"]  # no code reads env.ASSETS: Cloudflare serves them before the Worker


def test_no_cron_triggers_in_dev_but_the_front_still_knows_the_reapers(tmp_path: Path) -> None:
    # wrangler dev never fires crons and warns that it does not when a config has them.
    reaper = devconfig.worker_config("reaper", {})
    assert "triggers" not in reaper
    deployed = tomllib.loads((ROOT / "workers" / "reaper" / "wrangler.toml").read_text())
    paths = devconfig.write_run_configs(tmp_path / "run", {}, host="127.0.0.1")
    assert json.loads(paths[0].read_text())["vars"]["REAPER_CRON"] == deployed["triggers"]["crons"][0]


def test_wrangler_skips_its_request_cf_download_offline(tmp_path: Path) -> None:
    from tooling.workerd import runner, toolchain

    tools = toolchain.Toolchain(
        node=tmp_path / "node", wrangler=tmp_path / "wrangler.js", workerd=tmp_path / "workerd", pyodide=tmp_path / "pyodide"
    )
    env = runner.wrangler_env(tools, tmp_path / "wrapper", {})
    assert env["CLOUDFLARE_CF_FETCH_ENABLED"] == "false"


def test_each_run_has_a_dev_registry_of_its_own(tmp_path: Path) -> None:
    """Two runs at once must not reach each other's Workers through wrangler's shared registry."""
    from tooling.workerd import runner, toolchain

    tools = toolchain.Toolchain(
        node=tmp_path / "node", wrangler=tmp_path / "wrangler.js", workerd=tmp_path / "workerd", pyodide=tmp_path / "pyodide"
    )
    one = runner.WorkerdRuntime(tmp_path / "one", {}).process_env(tools, tmp_path / "wrapper")
    two = runner.WorkerdRuntime(tmp_path / "two", {}).process_env(tools, tmp_path / "wrapper")
    assert one["WRANGLER_REGISTRY_PATH"] == str((tmp_path / "one" / "workerd" / "registry").resolve())
    assert one["WRANGLER_REGISTRY_PATH"] != two["WRANGLER_REGISTRY_PATH"]
    chosen = runner.WorkerdRuntime(tmp_path / "three", {"WRANGLER_REGISTRY_PATH": "/elsewhere"})
    assert chosen.process_env(tools, tmp_path / "wrapper")["WRANGLER_REGISTRY_PATH"] == "/elsewhere"
