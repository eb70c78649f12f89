"""The report's prose about what was profiled and changed (kept apart from the tables)."""

from __future__ import annotations

from typing import Any

PROFILE_COMMAND = (
    "py-spy record --gil --rate 200 --format raw --pid <runtime pid> "
    "(during the 8-client run of bench.throughput, 3,000 jobs)"
)


def _n(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def optimizations(current: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    lines = [
        "## Profile and optimizations",
        "",
        f"Profiled by hand during this work (not rerun by `python -m bench`) with `{PROFILE_COMMAND}`, "
        "samples folded by function. Of the runtime's CPU: the HTTP server "
        "and h11 about 40 %, Durable Object calls about 36 % (the RPC boundary's JSON copy of every payload "
        "and reply 13-16 %, SQL 14-16 %, of which 5 % was splitting each statement character by character), "
        "the consumer about 30 % (its R2 put runs in a thread: file write, two fsyncs, the index commit). "
        "Nothing in the per-job path dominates on its own; three things did dominate where they bit:",
        "",
    ]
    history_before = baseline.get("history") if baseline else None
    history_after = current.get("history")
    if history_after:
        text = (
            "1. **Every submit counted the tenant's whole history.** The in-flight cap (`MAX_JOBS_IN_FLIGHT`) "
            "runs `SELECT COUNT(*) ... WHERE tenant = ? AND status IN ('queued','processing')` in every shard; "
            "SQLite answered it through `jobs_tenant_created`, reading every job the tenant has until the "
            "reaper deletes it, and Cloudflare bills each scanned row as a row read. Fixed with a partial index "
            "`jobs_tenant_active ON jobs (tenant) WHERE status IN ('queued','processing')` "
            "(`shared/jobs/shard.py`): the count reads only live jobs (at most the cap)."
        )
        if history_before:
            text += (
                f" With {_n(history_after['history'])} unexpired jobs: submit p50 "
                f"{_n(history_before['submit_latency_ms']['p50'], 1)} -> {_n(history_after['submit_latency_ms']['p50'], 1)} ms, "
                f"runtime CPU {_n(history_before['runtime_cpu_ms_per_job'], 1)} -> "
                f"{_n(history_after['runtime_cpu_ms_per_job'], 1)} ms per job."
            )
        text += (
            " In billed rows: a tenant keeping a day of jobs at 1 M jobs/day read ~1 M rows per submit, "
            "about $1,000 per million jobs at $0.001 per million rows; now at most ~100."
        )
        lines += [text, ""]
    memory_after = current.get("memory") or []
    memory_before = (baseline.get("memory") if baseline else None) or []
    text = (
        "2. **The legacy `/result` held four copies of the audio.** `b64encode` -> `.decode()` -> a dict -> "
        "`json.dumps` -> `.encode()` -> h11's join -> the transport's buffer, plus a join of the R2 body's "
        "pieces. Now the base64 is written piece by piece into the body's buffer (`shared/api/legacy_body.py`), "
        "the local server writes large bodies in 256 KiB pieces, and the local R2 body is read in one `pread`."
    )
    if memory_after and memory_before:
        a, b = memory_after[-1], memory_before[-1]
        pa, pb = a["phases"]["/result"], b["phases"]["/result"]
        text += (
            f" At {_n(a['megabytes'])} MB: {pb['copies']:.2f} -> {pa['copies']:.2f} copies, process peak RSS "
            f"{_n(pb['process_peak_rss_mib'])} -> {_n(pa['process_peak_rss_mib'])} MiB, CPU {_n(pb['cpu_ms'])} -> "
            f"{_n(pa['cpu_ms'])} ms."
        )
    lines += [text, ""]
    lines += [
        "3. **SQL statements were split character by character** before every `exec` (a Python loop over a "
        "~500-character `SELECT`, to find `;`): 17 µs -> 0.2 µs per call when there is no `;`, about "
        "13 calls per job (`local_runtime/bindings/sql.py`).",
        "",
    ]
    if baseline:
        lines += [
            f"The \"before\" columns are `{baseline['machine']['commit']}`: the same code with those commits undone, "
            "measured in the same run by the same benchmark code.",
            "",
        ]
    lines += [
        "Not changed, with what they would buy:",
        "",
        "- **The queue's batch window is a lone job's whole latency.** `max_batch_timeout = 5` in "
        "`workers/synth_consumer/wrangler.toml` (Cloudflare's default) lets a job wait up to 5 s for a "
        "batch to fill before synthesis starts; 1 s would cut a quiet system's latency five-fold for more, "
        "smaller consumer invocations (no per-message cost change: queue operations are per message).",
        "- **The in-flight count is four sequential Durable Object calls per submit** (one per shard: "
        "$0.60 per million jobs and four round trips on Cloudflare). `asyncio.gather` would make it one round "
        "trip of latency; a per-tenant counter in one place would make it one call.",
        "- **Polling**: every status poll is a Worker request and a Durable Object request. Webhooks (now "
        "offered) or a bounded long poll (`GET /v1/jobs/{id}?wait=...`) replace a loop of polls with one call.",
        "- **`/result` could stream** (base64 of R2 pieces into a streamed body: no copy at any size); today "
        "it needs the whole body in memory, and on Cloudflare the body is copied again into the JS heap, so "
        "it tops out near 40 MB of audio in a 128 MB Worker. `/audio` already streams.",
        "- **Claim reads the row three times and complete twice** (`UPDATE ... RETURNING` would read it once); "
        "rows read cost $0.001 per million, so this is CPU, not money.",
        "",
    ]
    return lines
