"""The Workers' wrangler configs agree with each other, with the template and with the code, offline.

What a reviewer checks before a deploy: every Worker the same ``SHARD_COUNT``
(and any other var two Workers set), every queue consumer with a
``max_concurrency`` and within Cloudflare's ranges, observability on, no
public URL on a Worker without a fetch handler, the secrets each Worker
cannot run without declared as required, and ``wrangler.toml.example``
saying what the Workers' configs say. The dry run of each config is
tests/config/test_wrangler_configs.py.
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import Any

import pytest

from shared.config import Settings, specs
from shared.errors import ConfigError
from shared.platform_limits import (
    QUEUE_MAX_BATCH_SIZE,
    QUEUE_MAX_BATCH_TIMEOUT_SECONDS,
    QUEUE_MAX_CONCURRENCY,
    QUEUE_MAX_RETRIES,
    WORKER_CPU_MS_MAX,
)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = sorted(p.parent.parent.name for p in (ROOT / "workers").glob("*/src/entry.py"))
TEMPLATE = tomllib.loads((ROOT / "wrangler.toml.example").read_text())


def config(worker: str) -> dict[str, Any]:
    return tomllib.loads((ROOT / "workers" / worker / "wrangler.toml").read_text())


def consumers(worker: str) -> dict[str, dict[str, Any]]:
    return {c["queue"]: c for c in config(worker).get("queues", {}).get("consumers", [])}


def handlers(worker: str) -> set[str]:
    tree = ast.parse((ROOT / "workers" / worker / "src" / "entry.py").read_text())
    default = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Default")
    return {m.name for m in default.body if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))}


def test_every_worker_sets_the_same_shard_count() -> None:
    counts = {worker: config(worker).get("vars", {}).get("SHARD_COUNT") for worker in WORKERS}

    assert len(WORKERS) == 3
    assert set(counts.values()) == {TEMPLATE["vars"]["SHARD_COUNT"]}, counts


def test_a_var_set_by_several_workers_has_one_value_and_the_templates() -> None:
    seen: dict[str, dict[str, str]] = {}
    for worker in WORKERS:
        for name, value in config(worker).get("vars", {}).items():
            seen.setdefault(name, {})[worker] = value

    disagree = {name: values for name, values in seen.items() if len(set(values.values())) > 1}
    off_template = {
        name: values for name, values in seen.items()
        if name in TEMPLATE["vars"] and set(values.values()) != {TEMPLATE["vars"][name]}
    }
    assert disagree == {} and off_template == {}


@pytest.mark.parametrize("worker", WORKERS)
def test_every_consumer_names_its_concurrency_within_cloudflares_ranges(worker: str) -> None:
    for queue, consumer in consumers(worker).items():
        assert "max_concurrency" in consumer, f"{worker}: {queue} would scale to {QUEUE_MAX_CONCURRENCY} invocations"
        assert 1 <= consumer["max_concurrency"] <= QUEUE_MAX_CONCURRENCY
        assert 1 <= consumer.get("max_batch_size", 1) <= QUEUE_MAX_BATCH_SIZE
        assert 0 <= consumer.get("max_batch_timeout", 0) <= QUEUE_MAX_BATCH_TIMEOUT_SECONDS
        assert 0 <= consumer.get("max_retries", 0) <= QUEUE_MAX_RETRIES


@pytest.mark.parametrize("worker", WORKERS)
def test_observability_on_and_no_public_url_without_a_fetch_handler(worker: str) -> None:
    settings = config(worker)

    assert settings.get("observability", {}).get("enabled") is True
    if "fetch" not in handlers(worker):
        assert settings.get("workers_dev") is False and settings.get("preview_urls") is False
    cpu_ms = settings.get("limits", {}).get("cpu_ms")
    assert cpu_ms is None or 0 < cpu_ms <= WORKER_CPU_MS_MAX


@pytest.mark.parametrize("worker", WORKERS)
def test_required_secrets_are_secret_settings(worker: str) -> None:
    secret_names = {spec.env for _, spec in specs(Settings) if spec.secret}
    required = config(worker).get("secrets", {}).get("required", [])

    assert sorted(set(required) - secret_names) == []


def test_the_api_and_the_consumer_cannot_deploy_without_their_keys() -> None:
    assert {"API_TOKENS", "SIGNING_KEY"} <= set(config("api")["secrets"]["required"])
    assert "SIGNING_KEY" in config("synth_consumer")["secrets"]["required"]  # webhook signatures


def test_the_template_consumes_the_queues_as_synth_consumer_does() -> None:
    deployed = config("synth_consumer")

    assert TEMPLATE["queues"]["consumers"] == deployed["queues"]["consumers"]
    assert TEMPLATE["limits"] == deployed["limits"]
    assert TEMPLATE["observability"] == deployed["observability"]


def test_webhook_retries_outlast_every_allowed_webhook_attempt() -> None:
    # The code settles each webhook message itself; the queue must never drop one first.
    retries = consumers("synth_consumer")["tts-webhooks"]["max_retries"]

    with pytest.raises(ConfigError, match="WEBHOOK_MAX_ATTEMPTS"):
        Settings.from_env({"WEBHOOK_MAX_ATTEMPTS": str(retries + 1)})


@pytest.mark.parametrize("queue", ["tts-jobs", "tts-chunks"])
def test_crashes_over_a_whole_retry_budget_do_not_make_a_job_poison(queue: str) -> None:
    # MAX_LAPSED_CLAIMS counts deliveries that died: more than one message's deliveries
    # (the first and each retry of a job message or a chunk task), so a run of crashes alone never fails a job.
    retries = consumers("synth_consumer")[queue]["max_retries"]

    assert Settings().max_lapsed_claims > 1 + retries


def test_chunk_tasks_have_a_queue_of_their_own_that_dead_letters_where_the_jobs_queue_does() -> None:
    # A lone job starts at once (no batch window on tts-jobs) while a long job's chunk tasks, on
    # tts-chunks, wait to fill a batch so they run side by side; both queues' dead letters go to the
    # one handler, which takes job messages and chunk tasks alike.
    queues = consumers("synth_consumer")
    producers = {p["binding"]: p["queue"] for p in config("synth_consumer")["queues"]["producers"]}

    assert queues["tts-jobs"]["max_batch_timeout"] == 0
    assert queues["tts-chunks"]["max_batch_timeout"] > 0
    assert queues["tts-chunks"]["dead_letter_queue"] == queues["tts-jobs"]["dead_letter_queue"] == "tts-jobs-dlq"
    assert producers["TTS_CHUNKS"] == "tts-chunks" and producers["TTS_JOBS"] == "tts-jobs"
