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
    served_after = [m for m in memory_after if m["phases"]["/result"].get("status", 200) == 200]
    served_before = [m for m in memory_before if m["phases"]["/result"].get("status", 200) == 200]
    if served_after and served_before:
        a, b = served_after[-1], served_before[-1]
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
    lines += _issue17(current, baseline)
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
        "- **Polling**: every status poll is a Worker request and a Durable Object request. Webhooks, "
        "`Prefer: wait` and the bounded long poll `GET /v1/jobs/{id}?wait=N` (all offered) replace a loop of "
        "polls with one call; the scenario priced here keeps one poll, as the issue set it.",
        "- **`/result` could stream** (base64 of R2 pieces into a streamed body: no copy at any size); today "
        "it needs the whole body in memory, and on Cloudflare the body is copied again into the JS heap, so "
        "it tops out near 40 MB of audio in a 128 MB Worker. `/audio` already streams.",
        "",
    ]
    return lines


def _rate(r: dict[str, Any]) -> float:
    return r["jobs"] / r["end_to_end_seconds"] if r["end_to_end_seconds"] else 0.0


def _issue17(current: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """What issue 17 changed, measured before/after in this run."""
    lines = [
        "Issue 17 (fewer Durable Object calls, the RPC boundary, the HTTP path, the reaper, two cores), profiled with "
        "cProfile on the runtime process during a 64-client run and on one reaper run (100,000 jobs):",
        "",
        "4. **A submit asked every shard.** The in-flight cap counted the tenant's jobs on each shard "
        "(`countActive` x `SHARD_COUNT`) before `create`: 5 Durable Object requests per submit with 4 shards, "
        "17 with 16. Now the job's shard admits it against its share of the limit in the insert's transaction "
        "(`createWithinBudget`, `shared/api/admission.py`; what stays exact: docs/architecture.md): 1 request. "
        "Each transition also reads its row once (claim read it three times, complete twice).",
        "5. **The local RPC boundary round-tripped every payload and reply through JSON** after walking it "
        "and building a path string for every key (`_key_path`): in the reaper's run, 3.4 s of 11.5 s went to "
        "that walk and 1.2 s to `json.dumps`/`loads`. Now one walk checks the same rules, copies the containers "
        "and bounds the JSON size from above (the exact size is encoded only when the bound is over the cap); "
        "paths are built only once a value is refused; a shard's reply (built afresh per call) is checked, not "
        "copied. A 1,000-record reply: about 9 ms of JSON round trip (plus the walk) -> 4 ms.",
        "6. **Three socket writes per response and a flush per log line.** uvicorn writes the head, the body "
        "and the end of the message separately; the server's transport now joins what one loop turn writes "
        "(one write per JSON response, `local_runtime/server.py`). Log lines stay one whole JSON line each, "
        "buffered by the runtime and flushed every 0.1 s, when 256 lines wait, and at stop (`shared/logs.py`).",
        "7. **The reaper's deletes unlinked files on the event loop**: on a busy disk 16,585 unlinks took 10 s "
        "of a 20 s run. They now run in a thread (the index no longer names the objects, so nobody can read "
        "them).",
        "8. **One process for everything.** The API, the consumer, the reaper and every shard share one "
        "event loop and one GIL. A process per Worker (the shards in a supervisor, reached over a Unix socket) "
        "was measured at 1.2x the jobs/s of one process with `tone` at 2.9x the memory, and nothing measurable "
        "once synthesis was real, so the runtime stays one process and runs synthesis in a thread pool "
        "(`SYNTHESIS_THREADS`) instead: the section \"Synthesis off the event loop\" measures it. And the "
        "consumer took one batch at a time, waiting on its R2 puts' fsyncs between batches; it now handles up to "
        "`QUEUE_MAX_CONCURRENCY` (4) batches at once, as Cloudflare runs several consumer invocations "
        "(wrangler.toml's `max_concurrency`).",
        "",
    ]
    reaper_after = current.get("reaper")
    reaper_before = baseline.get("reaper") if baseline else None
    if reaper_after and reaper_before:
        lines += [
            f"The reaper's default-budget run over {reaper_after['jobs']:,} jobs and {reaper_after['objects']:,} "
            f"objects: {reaper_before['wall_seconds']:.1f} -> {reaper_after['wall_seconds']:.1f} s "
            f"(purge {reaper_before['phase_ms'].get('purge', 0) / 1000:.1f} -> "
            f"{reaper_after['phase_ms'].get('purge', 0) / 1000:.1f} s, sweep "
            f"{reaper_before['phase_ms'].get('sweep', 0) / 1000:.1f} -> {reaper_after['phase_ms'].get('sweep', 0) / 1000:.1f} s), "
            f"judging {reaper_before['judged']:,} -> {reaper_after['judged']:,} objects. Both runs now stop at the "
            "operation budget (900), not the 20 s one: with this many objects a run judges about 130,000 whatever "
            "its speed, and the time left over is headroom for a slower disk or Pyodide. The issue's 56,000-62,000 "
            "was the time budget biting under heavier load; the before run here came within "
            f"{20 - reaper_before['wall_seconds']:.1f} s of it.",
            "",
        ]
    if baseline and baseline.get("throughput"):
        old = {r["clients"]: r for r in baseline["throughput"]}
        parts = []
        for r in current["throughput"]:
            b = old.get(r["clients"])
            if b:
                parts.append(f"N={r['clients']}: {_n(_rate(b))} -> {_n(_rate(r))} jobs/s "
                             f"({_rate(r) / _rate(b):.2f}x), CPU {b['runtime_cpu_ms_per_job']:.2f} -> "
                             f"{r['runtime_cpu_ms_per_job']:.2f} ms/job")
        if parts:
            lines += ["Together, same run: " + "; ".join(parts) + ".", ""]
    return lines
