"""A new job the synthesis cache already has: completed at submit, with no provider call and no message.

Only a job of one chunk (its text fits one provider request) is answered
here: its cache entry is its whole audio, copied under the job's own key
(one ``get`` and one ``put``; the job never serves the shared entry, so
deleting it leaves every other job's audio alone) and the job is created
``completed`` (one shard request; the shard records no queue message for
it). A long job whose chunks are all cached goes through the queue and is
joined by the consumer without a provider call (shared/synthesis/longform.py).
Plain text only: a rendered job (SSML, lexicons) is planned by the consumer.

Whatever fails here, the job is submitted as usual (a miss costs a
provider call, never the request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.keys import audio_key, object_metadata
from shared.models import JobRecord, JobStatus
from shared.synthesis.cache import CHARACTERS_SAVED, job_cache, reuse_job_audio
from shared.text.chunking import chunk_texts

if TYPE_CHECKING:
    from shared.dependencies import Dependencies
    from shared.synthesis.catalogue import ModelSpec


async def complete_from_cache(deps: Dependencies, record: JobRecord, spec: ModelSpec) -> JobRecord:
    """``record`` completed from the cache (its audio already copied), or as it was on a miss."""
    cache = job_cache(record, spec.provider, deps.clock, float(deps.settings.consumer_wall_seconds))
    if cache is None:
        return record
    texts = chunk_texts(record.text, spec.max_input_chars, stable=True)
    if len(texts) != 1:
        return record
    try:
        result = await reuse_job_audio(deps.bucket, cache, texts[0])
        if result is None:
            return record
        now = deps.clock()
        key = audio_key(record.job_id, record.created_at, result.extension)
        info = await deps.bucket.put(
            key, result.audio, content_type=result.mime_type, custom_metadata=object_metadata(record, now)
        )
    except Exception as exc:  # noqa: BLE001 - the queue's path still makes the audio
        deps.log.warning("cache_read_failed", jobId=record.job_id, error=str(exc))
        return record
    if deps.meter is not None:
        deps.meter(CHARACTERS_SAVED, result.characters_saved)
    deps.log.info("job_cache_hit", jobId=record.job_id, key=key, savedChars=result.characters_saved)
    return record.model_copy(update={
        "status": JobStatus.COMPLETED,
        "started_at": now,
        "completed_at": now,
        "updated_at": now,
        "expires_at": now + record.ttl_seconds,
        "audio_key": key,
        "mime_type": result.mime_type,
        "size_bytes": info.size,
        "etag": info.etag,
        "characters": 0,
        "progress_done": 1,
        "progress_total": 0,
        "cache_reused": 1,
        "cache_total": 1,
        "cache_saved_chars": result.characters_saved,
    })
