"""Dev wrangler configs: generated from the deployed ones, which stay as they are."""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

from tooling.workerd import devconfig

ROOT = Path(__file__).resolve().parents[3]


def test_dev_flags_replace_nothing_and_ai_is_bound_to_the_stand_in() -> None:
    config = devconfig.worker_config("synth_consumer", {})
    assert config["compatibility_flags"][: len(devconfig.DEV_FLAGS)] == list(devconfig.DEV_FLAGS)
    assert "enable_abortsignal_rpc" in config["compatibility_flags"]  # the adapter's {signal} over RPC
    assert "ai" not in config  # wrangler would proxy it to Cloudflare
    assert {"binding": "AI", "service": "tts-dev-ai", "entrypoint": "WorkersAi"} in config["services"]
    assert "services" not in devconfig.worker_config("reaper", {})  # no AI there
    assert config["main"] == str(ROOT / "workers" / "synth_consumer" / "src" / "entry.py")
    deployed = tomllib.loads((ROOT / "workers" / "synth_consumer" / "wrangler.toml").read_text())
    assert deployed["compatibility_flags"] == ["python_workers"] and "ai" in deployed  # untouched


def test_environment_settings_become_vars_and_queue_settings_the_consumer() -> None:
    env = {"SHARD_COUNT": "7", "SIGNING_KEY": "k" * 40, "QUEUE_MAX_RETRIES": "1", "QUEUE_MAX_BATCH_TIMEOUT": "0.2",
           "HOME": "/root", "JOB_RATE_LIMIT": "3/60"}
    consumer = devconfig.worker_config("synth_consumer", env)
    assert consumer["vars"]["SHARD_COUNT"] == "7" and consumer["vars"]["SIGNING_KEY"] == "k" * 40
    assert "HOME" not in consumer["vars"]
    queues = {c["queue"]: c for c in consumer["queues"]["consumers"]}
    assert queues["tts-jobs"]["max_retries"] == 1 and queues["tts-jobs"]["max_batch_timeout"] == 0.2
    assert queues["tts-jobs-dlq"]["max_batch_timeout"] == 0.2 and "max_retries" not in queues["tts-jobs-dlq"]
    assert queues["tts-webhooks"]["max_retries"] == 25  # not ours to change
    api = devconfig.worker_config("api", env)
    assert api["ratelimits"][0]["simple"] == {"limit": 3, "period": 60}


def test_run_configs_front_first_private_and_beside_python_modules(tmp_path: Path) -> None:
    paths = devconfig.write_run_configs(tmp_path / "run", {"API_TOKENS": "a:b"}, loopback=True)
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
    loopback = devconfig.write_run_configs(tmp_path / "a", {}, loopback=True)
    assert json.loads(loopback[1].read_text())["vars"]["ALLOW_ANONYMOUS"] == "true"
    public = devconfig.write_run_configs(tmp_path / "b", {}, loopback=False)
    assert "ALLOW_ANONYMOUS" not in json.loads(public[1].read_text())["vars"]
