"""Stable mapping of job ids to Durable Object shard names."""

from __future__ import annotations

import zlib


def shard_name(index: int) -> str:
    return f"shard-{index}"


def shard_for(job_id: str, shard_count: int) -> str:
    # crc32 is stable across processes and runtimes (unlike hash()).
    return shard_name(zlib.crc32(job_id.encode()) % shard_count)


def all_shards(shard_count: int) -> list[str]:
    return [shard_name(i) for i in range(shard_count)]
