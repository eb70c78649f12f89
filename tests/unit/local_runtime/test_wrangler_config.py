"""The local runtime consumes each queue as synth_consumer's wrangler.toml says, QUEUE_MAX_* over it."""

from __future__ import annotations

from pathlib import Path

import pytest

from local_runtime.bindings.queue_types import QueueConsumerConfig
from local_runtime.runtime import LocalRuntime
from local_runtime.wrangler_config import queue_consumer_configs, wrangler_config
from shared.errors import ConfigError, LimitExceededError

CONSUMER = """
name = "tts-synth-consumer"
[[queues.consumers]]
queue = "tts-jobs"
max_batch_size = 7
max_batch_timeout = 2
max_retries = 5
dead_letter_queue = "tts-jobs-dlq"
max_concurrency = 3

[[queues.consumers]]
queue = "tts-chunks"
max_batch_timeout = 1
max_retries = 4
dead_letter_queue = "tts-jobs-dlq"
max_concurrency = 2

[[queues.consumers]]
queue = "tts-jobs-dlq"
max_batch_timeout = 30
max_concurrency = 1

[[queues.consumers]]
queue = "tts-webhooks"
max_retries = 25
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "workers" / "synth_consumer").mkdir(parents=True)
    (tmp_path / "workers" / "synth_consumer" / "wrangler.toml").write_text(CONSUMER)
    return tmp_path


def test_each_queue_is_consumed_as_its_wrangler_table_says(repo: Path) -> None:
    configs = queue_consumer_configs({}, repo)

    assert configs == {
        "tts-jobs": QueueConsumerConfig(
            max_batch_size=7, max_batch_timeout=2, max_retries=5, dead_letter_queue="tts-jobs-dlq", max_concurrency=3
        ),
        "tts-chunks": QueueConsumerConfig(
            max_batch_timeout=1, max_retries=4, dead_letter_queue="tts-jobs-dlq", max_concurrency=2
        ),
        "tts-jobs-dlq": QueueConsumerConfig(max_batch_timeout=30, max_concurrency=1),
        # Cloudflare's defaults where the table is silent; an unset concurrency scales to 250.
        "tts-webhooks": QueueConsumerConfig(max_retries=25, max_concurrency=250),
    }


def test_queue_settings_override_the_jobs_and_chunk_queues_and_their_batch_waits_the_dead_letters(repo: Path) -> None:
    env = {"QUEUE_MAX_BATCH_SIZE": "2", "QUEUE_MAX_BATCH_TIMEOUT": "0.05", "QUEUE_MAX_RETRIES": "1",
           "QUEUE_MAX_CONCURRENCY": "8"}
    configs = queue_consumer_configs(env, repo)

    jobs, chunks, dead, hooks = configs["tts-jobs"], configs["tts-chunks"], configs["tts-jobs-dlq"], configs["tts-webhooks"]
    for queue in (jobs, chunks):
        assert (queue.max_batch_size, queue.max_batch_timeout, queue.max_retries, queue.max_concurrency) == (
            2, 0.05, 1, 8
        )
        assert queue.dead_letter_queue == "tts-jobs-dlq"
    assert (dead.max_batch_size, dead.max_batch_timeout, dead.max_retries, dead.max_concurrency) == (2, 0.05, 3, 1)
    assert (hooks.max_batch_timeout, hooks.max_retries) == (5, 25)


def test_a_value_past_cloudflares_range_is_refused(repo: Path) -> None:
    with pytest.raises(ConfigError, match="QUEUE_MAX_BATCH_SIZE must be <= 100"):
        queue_consumer_configs({"QUEUE_MAX_BATCH_SIZE": "101"}, repo)
    (repo / "workers" / "synth_consumer" / "wrangler.toml").write_text(CONSUMER.replace("max_retries = 25", "max_retries = 101"))
    with pytest.raises(LimitExceededError, match="max_retries 101"):
        queue_consumer_configs({}, repo)


def test_the_runtime_runs_the_deployed_consumers(tmp_path: Path) -> None:
    deployed = {c["queue"]: c for c in wrangler_config("synth_consumer")["queues"]["consumers"]}
    runtime = LocalRuntime(tmp_path, {}, port=0)

    runners = {runner.queue.name: runner.config for runner in runtime._runners}
    assert set(runners) == set(deployed)
    for queue, runner in runners.items():
        assert runner.max_concurrency == deployed[queue]["max_concurrency"]
        assert runner.max_batch_timeout == deployed[queue]["max_batch_timeout"]
