"""The project's worst cases against Cloudflare's limits, computed from the code's own bounds.

Each test builds the largest value the code can produce for one limit
(every field at the cap the code enforces, free text in 4-byte UTF-8
characters) and checks it fits: the rows of "Worst cases against the
limits" in docs/cloudflare.md that do not depend on how long synthesis takes.
"""

from __future__ import annotations

import json

import pytest

from local_runtime.bindings.boundary import encoded_size
from shared.config import Settings
from shared.errors import ConfigError
from shared.jobs.rpc_payloads import MAX_PAGE_ROWS
from shared.keys import audio_key, chunk_timings_key, object_metadata, timings_key, upload_part_record_key
from shared.api.submission import MAX_STORED_INPUT_BYTES
from shared.models import MAX_INPUTS, DeliverWebhook, JobInput, JobRecord, JobStatus, SynthesizeJob, WebhookEvent
from shared.synthesis.inputs import encode_inputs
from shared.platform_limits import (
    DO_SQL_MAX_ROW_BYTES,
    QUEUE_MAX_MESSAGE_BYTES,
    QUEUE_SEND_BATCH_MAX_BYTES,
    QUEUE_SEND_BATCH_MAX_MESSAGES,
    R2_MAX_KEY_BYTES,
    R2_MAX_METADATA_BYTES,
    R2_MULTIPART_MAX_PART_BYTES,
    R2_MULTIPART_MAX_PARTS,
    R2_MULTIPART_MIN_PART_BYTES,
    RPC_MAX_BYTES,
    WORKER_SUBREQUESTS,
)
from shared.reaper import repair
from shared.synthesis.assembly import part_size_for

WIDE = "\U0001f600"  # 4 bytes in UTF-8
JOB_ID = "f" * 32
LATE = 4_102_444_800.125  # 2100-01-01: the widest timestamps
LONGEST_NAME = "n" * 100  # models, voices and formats are SafeName: at most 100 characters
SHARD = "shard-9999"
MAX_AUDIO_BYTES = 4_000_000_000  # MAX_AUDIO_BYTES' ceiling (shared/config.py)
MAX_TEXT_CHARS = 400_000  # MAX_TEXT_CHARS' ceiling


def widest_record(text: str = "") -> JobRecord:
    """A record with every field at the longest the API and the shard let it be."""
    return JobRecord(
        job_id=JOB_ID, tenant="t" * 64, status=JobStatus.COMPLETED, text=text, model=LONGEST_NAME,
        voice_id=LONGEST_NAME, format=LONGEST_NAME, created_at=LATE, updated_at=LATE, started_at=LATE,
        completed_at=LATE, expires_at=LATE, ttl_seconds=2_592_000, attempts=100, lease_until=LATE,
        characters=MAX_TEXT_CHARS, error=WIDE * 2000, audio_key=audio_key(JOB_ID, LATE, LONGEST_NAME),
        mime_type="audio/" + LONGEST_NAME, size_bytes=MAX_AUDIO_BYTES, etag="e" * 64, sample_rate=384_000,
        speed=10.0, instructions=WIDE * 4096, progress_done=99_999, progress_total=99_999, timestamps="word",
        idempotency_key="k" * 64, request_hash="h" * 64, deadline_at=LATE, webhook_url="https://" + "u" * 2040,
        webhook_events="completed,failed,canceled", webhook_status="delivered", webhook_attempts=20,
        webhook_last_status=599, webhook_last_error=WIDE * 300, webhook_last_attempt_at=LATE,
        input_count=MAX_INPUTS, gap_ms=10_000, progress_inputs=MAX_INPUTS,
    )


# A multi-input job's chunk ends: MAX_INPUTS numbers of up to 6 digits (a chunk a character of the longest text).
WIDEST_INPUT_CHUNKS = ",".join(str(MAX_TEXT_CHARS - i) for i in range(MAX_INPUTS - 1, -1, -1))


def test_a_page_of_shard_records_fits_one_rpc_reply() -> None:
    # The reaper's expired/stale/lookup pages: up to MAX_PAGE_ROWS records, without their text.
    one = encoded_size(widest_record().to_rpc())

    assert one * MAX_PAGE_ROWS <= RPC_MAX_BYTES


def test_the_longest_job_fits_one_durable_object_row() -> None:
    record = widest_record(WIDE * MAX_TEXT_CHARS)
    row = len(json.dumps(record.to_rpc(), ensure_ascii=False, separators=(",", ":")).encode())

    assert row <= DO_SQL_MAX_ROW_BYTES


def test_the_widest_multi_input_job_fits_one_durable_object_row() -> None:
    # Texts, titles and voices together at most MAX_STORED_INPUT_BYTES (the API's rule), plus the chunk ends.
    inputs = encode_inputs([JobInput(text="x", voice_id=LONGEST_NAME, title=WIDE * 200)] * MAX_INPUTS)
    text = WIDE * ((MAX_STORED_INPUT_BYTES - len(inputs.encode())) // 4)
    record = widest_record(text).model_copy(update={"inputs": inputs, "input_chunks": WIDEST_INPUT_CHUNKS})
    row = len(json.dumps(record.to_rpc(), ensure_ascii=False, separators=(",", ":")).encode())

    assert len(text.encode()) + len(inputs.encode()) <= MAX_STORED_INPUT_BYTES
    assert row <= DO_SQL_MAX_ROW_BYTES


def test_every_key_the_code_writes_fits_r2() -> None:
    keys = [
        audio_key(JOB_ID, LATE, LONGEST_NAME),
        timings_key(JOB_ID, LATE),
        chunk_timings_key(JOB_ID, "p" * 16, 99_999),
        upload_part_record_key(JOB_ID, "p" * 16, R2_MULTIPART_MAX_PARTS),
    ]

    assert max(len(k.encode()) for k in keys) <= R2_MAX_KEY_BYTES


def test_object_metadata_fits_r2_with_room_for_an_upload_id() -> None:
    metadata = object_metadata(widest_record(), LATE)
    used = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
    # An upload record adds uploadId (R2's, undocumented length), uploadKey, digest, sizes.
    record_extra = len(audio_key(JOB_ID, LATE, LONGEST_NAME)) + 16 + 2 * 20 + 64

    assert used + record_extra + 1024 <= R2_MAX_METADATA_BYTES


def test_queue_messages_and_a_repair_batch_fit() -> None:
    bodies = [
        SynthesizeJob(jobId=JOB_ID, shard=SHARD).model_dump(mode="json"),
        DeliverWebhook(jobId=JOB_ID, shard=SHARD, event=WebhookEvent.COMPLETED).model_dump(mode="json"),
    ]
    largest = max(encoded_size(b) for b in bodies)

    assert largest <= QUEUE_MAX_MESSAGE_BYTES
    assert repair.PAGE <= QUEUE_SEND_BATCH_MAX_MESSAGES
    assert largest * repair.PAGE <= QUEUE_SEND_BATCH_MAX_BYTES


def test_the_largest_audio_assembles_within_r2s_part_rules() -> None:
    part = part_size_for(MAX_AUDIO_BYTES)

    assert R2_MULTIPART_MIN_PART_BYTES <= part <= R2_MULTIPART_MAX_PART_BYTES
    assert -(-MAX_AUDIO_BYTES // part) <= R2_MULTIPART_MAX_PARTS


def test_the_reapers_budget_fits_the_subrequest_limit() -> None:
    assert Settings().reaper_max_operations <= WORKER_SUBREQUESTS
    with pytest.raises(ConfigError, match="REAPER_MAX_OPERATIONS"):
        Settings.from_env({"REAPER_MAX_OPERATIONS": str(WORKER_SUBREQUESTS + 1)})


def test_the_ceilings_these_cases_assume_are_enforced() -> None:
    for name, ceiling in (("MAX_TEXT_CHARS", MAX_TEXT_CHARS), ("MAX_AUDIO_BYTES", MAX_AUDIO_BYTES)):
        Settings.from_env({name: str(ceiling)})
        with pytest.raises(ConfigError, match=name):
            Settings.from_env({name: str(ceiling + 1)})


def test_pages_of_records_leave_out_the_text_and_a_jobs_inputs() -> None:
    from shared.jobs.shard import PAGE

    assert not {"text", "inputs", "input_chunks"} & set(PAGE.split(", "))


def test_inputs_whose_titles_would_overflow_the_row_are_refused() -> None:
    from shared.api.errors import ApiError
    from shared.api.submission import _check_inputs
    from shared.models import CreateJobRequest

    body = CreateJobRequest(inputs=[JobInput(text=WIDE * 400, title=WIDE * 200)] * MAX_INPUTS)
    with pytest.raises(ApiError) as refused:
        _check_inputs(body, MAX_TEXT_CHARS)
    assert refused.value.status == 422 and refused.value.field == "inputs" and "bytes" in str(refused.value)
