"""Cloudflare's prices, and what the measured operations cost per million jobs.

Prices are the marginal Workers Paid rates (what each operation costs once
the monthly allowance included in the $5 plan is used up), as published on
Cloudflare's price pages; ``PRICES_READ`` says when they were read. The
design this pipeline replaces (one Durable Object holding every job, audio
stored as base64 in the job's value, returned by every status read; no
queue, no R2, no reaper) is priced on paper from its operations with the
same table (``original_plan_ops``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PRICES_READ = "2026-11-24"


@dataclass(frozen=True)
class Price:
    usd_per_million: float
    unit: str
    source: str


WORKERS = "https://developers.cloudflare.com/workers/platform/pricing/"
DURABLE_OBJECTS = "https://developers.cloudflare.com/durable-objects/platform/pricing/"
QUEUES = "https://developers.cloudflare.com/queues/platform/pricing/"
R2 = "https://developers.cloudflare.com/r2/pricing/"

PRICES: dict[str, Price] = {
    "worker.requests": Price(0.30, "Worker request (HTTP, cron run)", WORKERS),
    "worker.invocations": Price(0.30, "queue consumer invocation (one per batch; priced as a request, an upper bound)", WORKERS),
    "worker.cpu_ms": Price(0.02, "CPU millisecond", WORKERS),
    "do.requests": Price(0.15, "Durable Object request (each RPC call)", DURABLE_OBJECTS),
    "do.rows_read": Price(0.001, "SQLite row read", DURABLE_OBJECTS),
    "do.rows_written": Price(1.00, "SQLite row written", DURABLE_OBJECTS),
    "do.kv_read_units": Price(0.20, "KV-backend read request unit (4 KB)", DURABLE_OBJECTS),
    "do.kv_write_units": Price(1.00, "KV-backend write request unit (4 KB)", DURABLE_OBJECTS),
    "queue.write": Price(0.40, "queue operation (write, per 64 KB)", QUEUES),
    "queue.read": Price(0.40, "queue operation (read, per 64 KB)", QUEUES),
    "queue.delete": Price(0.40, "queue operation (delete, per 64 KB)", QUEUES),
    "r2.class_a": Price(4.50, "R2 class A (put, list)", R2),
    "r2.class_b": Price(0.36, "R2 class B (get, head)", R2),
    "r2.delete": Price(0.0, "R2 delete (free)", R2),
}

STORAGE_USD_PER_GB_MONTH = {
    "r2": (0.015, R2),
    "do.sqlite": (0.20, DURABLE_OBJECTS),
    "do.kv": (0.20, DURABLE_OBJECTS),
}
DO_DURATION_USD_PER_MILLION_GB_S = 12.50

KV_VALUE_LIMIT = 128 * 1024
KV_UNIT = 4096
JOB_METADATA_BYTES = 300
"""The original value's non-audio part (ids, status, timestamps, mime type), as JSON."""


def usd_per_million_jobs(ops_per_job: dict[str, float]) -> dict[str, float]:
    """Each priced operation's share of the cost of a million jobs, in USD."""
    return {name: count * PRICES[name].usd_per_million for name, count in ops_per_job.items() if name in PRICES}


def base64_size(audio_bytes: int) -> int:
    return 4 * math.ceil(audio_bytes / 3)


def original_plan_value_bytes(audio_bytes: int) -> int:
    return base64_size(audio_bytes) + JOB_METADATA_BYTES


def original_plan_ops(audio_bytes: int) -> dict[str, dict[str, float]]:
    """Operations of the original design, per job and phase, on paper.

    submit: the api Worker asks the one Durable Object to create the job (a
    small value), synthesizes in the same request (``waitUntil``), then asks
    it to store the finished job with ``base64Audio`` in its value. A status
    poll and the result download both read that whole value (the response is
    ``{jobId, status, base64Audio, mimeType}``). Nothing is ever deleted.
    """
    units = math.ceil(original_plan_value_bytes(audio_bytes) / KV_UNIT)
    return {
        "submit": {"worker.requests": 1, "do.requests": 1, "do.kv_write_units": 1},
        "process": {"do.requests": 1, "do.kv_write_units": units},
        "status poll": {"worker.requests": 1, "do.requests": 1, "do.kv_read_units": units},
        "download /result": {"worker.requests": 1, "do.requests": 1, "do.kv_read_units": units},
    }


def scenario(phases: dict[str, dict[str, float]], polls: float, download: str) -> dict[str, float]:
    """One job's life: submit, process, ``polls`` status polls, one download, its share of reaper runs."""
    total: dict[str, float] = {}
    weights = {"submit": 1.0, "process": 1.0, "status poll": polls, download: 1.0, "reaper (per job purged)": 1.0}
    for name, weight in weights.items():
        for op, count in phases.get(name, {}).items():
            total[op] = total.get(op, 0.0) + weight * count
    return total
