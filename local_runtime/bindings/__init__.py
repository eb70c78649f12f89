"""Durable local stand-ins for Cloudflare bindings.

Each module mirrors one binding's documented semantics and limits, so code
that passes against these does not trip a limit in production:

- ``boundary``: what may cross RPC and queue boundaries (types, sizes).
- ``meter``: counts billable operations for cost figures.
- ``sql``: a Durable Object's ``ctx.storage.sql`` over SQLite.
- ``r2``: an R2 bucket as files plus a SQLite index.
- ``queue``: a Cloudflare Queue (batches, retries, delays, dead letters) in SQLite.
"""
