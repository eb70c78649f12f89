"""Cloudflare's platform limits that the code relies on, each declared once with its source.

Every module that sizes a loop, a page, a check or a default by one of
Cloudflare's limits imports it from here; the local runtime enforces the same
numbers. A limit's docstring names the page it comes from and the value as
that page states it (tests/unit/core/test_platform_limits.py keeps every
limit sourced). Values are for the Workers Paid plan, which the project
targets; where Free differs the docstring says so. docs/cloudflare.md,
"Worst cases against the limits", sets the project's worst case beside each.
"""

from __future__ import annotations

from typing import Final

KB: Final = 1_000
"""Queues and Durable Objects count "1 KB" as 1,000 bytes."""
MB: Final = 1_000_000
MIB: Final = 1024 * 1024
GIB: Final = 1024 * MIB
TIB: Final = 1024 * GIB

# --- R2 --------------------------------------------------------------------------------

R2_MAX_KEYS_PER_DELETE: Final = 1_000
"""``bucket.delete(keys)`` takes up to 1,000 keys a call.
https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#bucket-method-definitions"""

R2_MAX_KEYS_PER_LIST: Final = 1_000
"""``bucket.list({limit})``: at most 1,000 objects a call (the default), fewer with ``include``.
https://developers.cloudflare.com/r2/api/workers/workers-api-reference/#r2listoptions"""

R2_MAX_KEY_BYTES: Final = 1_024
"""Object key length: 1,024 bytes. https://developers.cloudflare.com/r2/platform/limits/"""

R2_MAX_METADATA_BYTES: Final = 8_192
"""Object metadata size (HTTP and custom together): 8,192 bytes.
https://developers.cloudflare.com/r2/platform/limits/"""

R2_MULTIPART_MIN_PART_BYTES: Final = 5 * MIB
"""A multipart part is at least 5 MiB (all but the last, which may be smaller), all of
them the same size. https://developers.cloudflare.com/r2/objects/multipart-objects/"""

R2_MULTIPART_MAX_PART_BYTES: Final = 5 * GIB - 5 * MIB
"""Maximum upload size, one request or one part: 5 GiB less 5 MiB (4.995 GiB).
https://developers.cloudflare.com/r2/platform/limits/"""

R2_MULTIPART_MAX_PARTS: Final = 10_000
"""Maximum upload parts: 10,000. https://developers.cloudflare.com/r2/platform/limits/"""

R2_MAX_OBJECT_BYTES: Final = 5 * TIB - 5 * GIB
"""Object size: 5 TiB less 5 GiB (4.995 TiB). https://developers.cloudflare.com/r2/platform/limits/"""

# --- Queues ----------------------------------------------------------------------------

QUEUE_MAX_MESSAGE_BYTES: Final = 128 * KB
"""Message size: 128 KB (1 KB = 1,000 bytes; about 100 bytes of it are Cloudflare's metadata).
https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_SEND_BATCH_MAX_MESSAGES: Final = 100
"""``sendBatch``: at most 100 messages a call. https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_SEND_BATCH_MAX_BYTES: Final = 256 * KB
"""``sendBatch``: at most 256 KB in total. https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_BILLING_CHUNK_BYTES: Final = 64 * KB
"""Billing, not a limit: each 64 KB of a message is one operation (write, read, delete).
https://developers.cloudflare.com/queues/platform/pricing/"""

QUEUE_MAX_BATCH_SIZE: Final = 100
"""A consumer's ``max_batch_size``: up to 100 messages. https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_DEFAULT_BATCH_SIZE: Final = 10
"""``max_batch_size`` when the consumer leaves it unset: 10.
https://developers.cloudflare.com/queues/configuration/configure-queues/#consumer"""

QUEUE_MAX_BATCH_TIMEOUT_SECONDS: Final = 60
"""A consumer's ``max_batch_timeout`` (maximum batch wait time): up to 60 seconds.
https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_DEFAULT_BATCH_TIMEOUT_SECONDS: Final = 5
"""``max_batch_timeout`` when the consumer leaves it unset: 5 seconds.
https://developers.cloudflare.com/queues/configuration/configure-queues/#consumer"""

QUEUE_MAX_RETRIES: Final = 100
"""A consumer's ``max_retries`` (message retries): up to 100. https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_DEFAULT_RETRIES: Final = 3
"""``max_retries`` when the consumer leaves it unset: 3.
https://developers.cloudflare.com/queues/configuration/configure-queues/#consumer"""

QUEUE_MAX_DELAY_SECONDS: Final = 86_400
"""``delaySeconds`` when sending or retrying: up to 24 hours. https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_MAX_CONCURRENCY: Final = 250
"""Concurrent consumer invocations (push-based): 250, also what an unset ``max_concurrency`` scales to.
https://developers.cloudflare.com/queues/platform/limits/"""

QUEUE_CONSUMER_WALL_SECONDS: Final = 900
"""Consumer duration (wall clock time) of one invocation: 15 minutes.
https://developers.cloudflare.com/queues/platform/limits/"""

# --- Workers ---------------------------------------------------------------------------

WORKER_CPU_MS_DEFAULT: Final = 30_000
"""CPU time of one invocation when ``[limits] cpu_ms`` is unset: 30 seconds (Paid; Free: 10 ms).
https://developers.cloudflare.com/workers/platform/limits/#cpu-time"""

WORKER_CPU_MS_MAX: Final = 300_000
"""The most ``[limits] cpu_ms`` may ask for: 5 minutes (Paid). https://developers.cloudflare.com/workers/platform/limits/"""

WORKER_SUBREQUESTS: Final = 10_000
"""Subrequests (fetch, and calls to R2, Queues, Durable Objects) per invocation: 10,000 (Paid; Free: 50).
https://developers.cloudflare.com/workers/platform/limits/#subrequests"""

WORKER_SIMULTANEOUS_CONNECTIONS: Final = 6
"""Simultaneous outgoing connections per invocation: 6.
https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections"""

WORKER_MEMORY_BYTES: Final = 128 * MB
"""Memory of one isolate, Wasm linear memory included: 128 MB.
https://developers.cloudflare.com/workers/platform/limits/#memory"""

WORKER_STARTUP_CPU_MS: Final = 1_000
"""Worker startup time (the top-level code, at deploy): 1 second.
https://developers.cloudflare.com/workers/platform/limits/#worker-startup-time"""

WORKER_SIZE_FREE_BYTES: Final = 3 * MB
"""Worker size after compression, Free plan: 3 MB. https://developers.cloudflare.com/workers/platform/limits/#worker-size"""

WORKER_SIZE_PAID_BYTES: Final = 10 * MB
"""Worker size after compression, Paid plan: 10 MB. https://developers.cloudflare.com/workers/platform/limits/#worker-size"""

RPC_MAX_BYTES: Final = 32 * MIB
"""Serialized RPC arguments or return values (Durable Object calls): 32 MiB.
https://developers.cloudflare.com/workers/runtime-apis/rpc/#limitations"""

RATE_LIMIT_PERIODS: Final = (10, 60)
"""The Rate Limiting binding's ``simple.period``: 10 or 60 seconds.
https://developers.cloudflare.com/workers/runtime-apis/bindings/rate-limit/#configuration"""

# --- Durable Objects (SQLite storage) ---------------------------------------------------

DO_SQL_MAX_ROW_BYTES: Final = 2 * MB
"""Maximum string, BLOB or table row size: 2 MB. https://developers.cloudflare.com/durable-objects/platform/limits/"""

DO_SQL_MAX_STATEMENT_BYTES: Final = 100 * KB
"""Maximum SQL statement length: 100 KB. https://developers.cloudflare.com/durable-objects/platform/limits/"""

DO_SQL_MAX_BOUND_PARAMETERS: Final = 100
"""Maximum bound parameters per query: 100. https://developers.cloudflare.com/durable-objects/platform/limits/"""

DO_REQUESTS_PER_SECOND: Final = 1_000
"""One object's soft limit: about 1,000 requests per second.
https://developers.cloudflare.com/durable-objects/platform/limits/#how-much-work-can-a-single-durable-object-do"""
