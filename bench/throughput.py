"""Throughput and latency: N concurrent HTTP clients against the runtime process.

How one run goes, for each N:

1. A fresh runtime process (``tts-pipeline dev``) on a fresh data directory.
2. N client threads, each with its own keep-alive ``http.client`` connection,
   submit their share of the jobs back to back (submit latency per request).
3. Completion is watched without HTTP: the benchmark reads the runtime's
   queue table (SQLite, read-only) until no message is left, so the
   runtime's CPU time covers submit + processing only, not polling.
4. Each job's status is fetched once; submit-to-completed latency is the
   job's server-stamped ``completedAt`` minus the client's clock at submit
   (one machine, one clock), so it does not depend on a polling interval.
   What polling adds on top is measured separately (``closed_loop``).

The floor is the same jobs' work with no pipeline, at the same concurrency
(one task per client): synthesize with the same ``ToneSynthesizer`` and store
the audio as durably as the pipeline's R2 put does, with the same metadata.
It is that put (``LocalBucket.put``: temporary file, fsync, rename, directory
fsync, index commit, off the event loop), called directly, so the floor has
no less durability than the pipeline and no more work than storage needs.

Open loop: submits at a fixed offered rate (a schedule, not back to back), so
the latency is what a client sees at that load, not what a saturating client
makes of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from http.client import HTTPConnection
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import procstat
from bench import profile as bench_profile
from bench.runtime_proc import ROOT as RUNTIME_ROOT
from bench.runtime_proc import RuntimeProcess
from bench.stats import summary_ms

TEXT = "Hello from the pipeline"  # 23 characters: 1.38 s of tone, 66,284 bytes of WAV
HEADERS = {"Content-Type": "application/json"}


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


@dataclass
class ThroughputResult:
    clients: int
    jobs: int
    submit_seconds: float
    end_to_end_seconds: float
    submit_latency_ms: dict[str, float]
    completion_latency_ms: dict[str, float]
    runtime_cpu_ms_per_job: float
    client_cpu_ms_per_job: float
    runtime_peak_rss_mib: float
    errors: int
    env: dict[str, str] = field(default_factory=dict)
    dev_args: list[str] = field(default_factory=list)  # how `tts-pipeline dev` was started

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.end_to_end_seconds if self.end_to_end_seconds else 0.0



def _submitter(port: int, count: int, body: bytes, out: list[tuple[str, float, float]],
               errors: list[str], start: threading.Barrier) -> None:
    conn = HTTPConnection("127.0.0.1", port, timeout=120)
    start.wait()
    try:
        for _ in range(count):
            wall = time.time()
            began = time.perf_counter()
            conn.request("POST", "/v1/jobs", body=body, headers=HEADERS)
            response = conn.getresponse()
            data = response.read()
            elapsed = time.perf_counter() - began
            if response.status != 202:
                errors.append(f"submit {response.status}: {data[:200]!r}")
                continue
            out.append((json.loads(data)["jobId"], wall, elapsed))
    finally:
        conn.close()


def _fetch_status(port: int, job_ids: list[str], out: dict[str, dict[str, Any]]) -> None:
    conn = HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for job_id in job_ids:
            conn.request("GET", f"/v1/jobs/{job_id}")
            response = conn.getresponse()
            out[job_id] = json.loads(response.read())
    finally:
        conn.close()


def _run_threads(targets: list[tuple[Any, tuple[Any, ...]]]) -> None:
    threads = [threading.Thread(target=fn, args=args, daemon=True) for fn, args in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def wait_for_queue_drained(data_dir: Path, timeout: float) -> float:
    """Wait until the runtime's ``tts-jobs`` queue holds no message; returns the time it did."""
    db = data_dir / "queues.sqlite"
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        while time.monotonic() < deadline:
            (left,) = conn.execute("SELECT count(*) FROM queue_messages WHERE queue = 'tts-jobs'").fetchone()
            if left == 0:
                return time.time()
            time.sleep(0.005)
    finally:
        conn.close()
    raise TimeoutError(f"queue not drained within {timeout} s")


def run_clients(
    clients: int, jobs: int, work_dir: Path, env: dict[str, str] | None = None, dev_args: Sequence[str] = (),
    *, model: str = "tone", root: Path | None = None, profile: Path | None = None,
) -> ThroughputResult:
    """``jobs`` jobs of ``model`` from ``clients`` clients against a fresh runtime (of the build in ``root``)."""
    runtime = RuntimeProcess(work_dir / f"clients-{clients}{'-'.join(['', *dev_args])}", env, dev_args,
                             root=root if root is not None else RUNTIME_ROOT)
    return _load(runtime, clients, jobs, model, wait_for_queue_drained, profile,
                 env=dict(runtime.overrides), dev_args=list(dev_args))


def wait_for_plain_drained(data_dir: Path, timeout: float) -> float:
    """Wait until the plain baseline's job table holds no unfinished job; returns the time it did."""
    deadline = time.monotonic() + timeout
    conn = sqlite3.connect(f"file:{data_dir / 'jobs.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        while time.monotonic() < deadline:
            (left,) = conn.execute("SELECT count(*) FROM jobs WHERE status != 'completed'").fetchone()
            if left == 0:
                return time.time()
            time.sleep(0.005)
    finally:
        conn.close()
    raise TimeoutError(f"baseline not drained within {timeout} s")


def run_plain_clients(clients: int, jobs: int, work_dir: Path) -> ThroughputResult:
    """The same load as ``run_clients`` against the plain baseline (bench/baselines/plain.py)."""
    plain = RuntimeProcess(work_dir / f"plain-{clients}", {}, module=("bench.baselines.plain",))
    return _load(plain, clients, jobs, "tone", wait_for_plain_drained, None,
                 env={}, dev_args=["bench.baselines.plain"])


def _load(
    server: RuntimeProcess, clients: int, jobs: int, model: str, drained: Callable[[Path, float], float],
    profile: Path | None, *, env: dict[str, str], dev_args: list[str],
) -> ThroughputResult:
    """``clients`` threads submit ``jobs`` jobs to ``server`` at once; then waits for ``drained``
    and reads every job back. The runtime's CPU is its process tree's, from the first submit to drained."""
    body = json.dumps({"text": TEXT, "model": model}).encode()
    shares = [jobs // clients + (1 if i < jobs % clients else 0) for i in range(clients)]
    submitted: list[tuple[str, float, float]] = []
    errors: list[str] = []
    with server:
        start = threading.Barrier(clients + 1)
        threads = [
            threading.Thread(target=_submitter, args=(server.port, n, body, submitted, errors, start), daemon=True)
            for n in shares
        ]
        for thread in threads:
            thread.start()
        recorder = bench_profile.Recorder(server.pid, profile) if profile is not None else contextlib.nullcontext()
        with recorder:
            cpu_runtime0 = procstat.tree_cpu_seconds(server.pid)
            cpu_client0 = time.process_time()
            start.wait()
            began = time.time()
            for thread in threads:
                thread.join()
            submit_seconds = time.time() - began
            cpu_client = time.process_time() - cpu_client0
            drained(server.folder, 60 + jobs * 0.05)
            cpu_runtime = procstat.tree_cpu_seconds(server.pid) - cpu_runtime0
        peak_rss = procstat.tree_peak_rss_mib(server.pid)

        ids = [job_id for job_id, _, _ in submitted]
        views: dict[str, dict[str, Any]] = {}
        per = max(1, min(8, clients))
        _run_threads([(_fetch_status, (server.port, ids[i::per], views)) for i in range(per)])

    completion: list[float] = []
    last_completed = began
    for job_id, wall, _ in submitted:
        view = views.get(job_id, {})
        if view.get("status") != "completed" or not view.get("completedAt"):
            errors.append(f"job {job_id} ended {view.get('status')}")
            continue
        done = _epoch(view["completedAt"])
        completion.append(done - wall)
        last_completed = max(last_completed, done)
    return ThroughputResult(
        clients=clients,
        jobs=len(submitted),
        submit_seconds=submit_seconds,
        end_to_end_seconds=last_completed - began,
        submit_latency_ms=summary_ms([s for _, _, s in submitted]),
        completion_latency_ms=summary_ms(completion),
        runtime_cpu_ms_per_job=cpu_runtime / max(1, len(submitted)) * 1000,
        client_cpu_ms_per_job=cpu_client / max(1, len(submitted)) * 1000,
        runtime_peak_rss_mib=peak_rss,
        errors=len(errors),
        env=env,
        dev_args=dev_args,
    )


# --- closed loop: one client that submits, then polls until completed -------


@dataclass
class ClosedLoopResult:
    jobs: int
    poll_interval_ms: float
    observed_ms: dict[str, float]
    stamped_ms: dict[str, float]
    queued_ms: dict[str, float]
    processing_ms: dict[str, float]
    polls_per_job: float
    polling_adds_ms: float


def closed_loop(jobs: int, poll_interval: float, work_dir: Path, env: dict[str, str] | None = None) -> ClosedLoopResult:
    """One client, one job at a time: submit, poll every ``poll_interval`` until completed."""
    body = json.dumps({"text": TEXT, "model": "tone"}).encode()
    observed: list[float] = []
    stamped: list[float] = []
    queued: list[float] = []
    processing: list[float] = []
    polls = 0
    with RuntimeProcess(work_dir / "closed-loop", env) as runtime:
        conn = HTTPConnection("127.0.0.1", runtime.port, timeout=60)
        try:
            for _ in range(jobs):
                wall = time.time()
                began = time.perf_counter()
                conn.request("POST", "/v1/jobs", body=body, headers=HEADERS)
                job = json.loads(conn.getresponse().read())
                while True:
                    time.sleep(poll_interval)
                    conn.request("GET", f"/v1/jobs/{job['jobId']}")
                    view = json.loads(conn.getresponse().read())
                    polls += 1
                    if view["status"] in ("completed", "failed", "canceled"):
                        break
                observed.append(time.perf_counter() - began)
                stamped.append(_epoch(view["completedAt"]) - wall)
                queued.append(_epoch(view["startedAt"]) - _epoch(view["createdAt"]))
                processing.append(_epoch(view["completedAt"]) - _epoch(view["startedAt"]))
        finally:
            conn.close()
    return ClosedLoopResult(
        jobs=jobs,
        poll_interval_ms=poll_interval * 1000,
        observed_ms=summary_ms(observed),
        stamped_ms=summary_ms(stamped),
        queued_ms=summary_ms(queued),
        processing_ms=summary_ms(processing),
        polls_per_job=polls / max(1, jobs),
        polling_adds_ms=(sum(observed) - sum(stamped)) / max(1, jobs) * 1000,
    )


# --- the floor: no pipeline ---------------------------------------------------


@dataclass
class FloorResult:
    jobs: int
    concurrency: int
    seconds: float
    latency_ms: dict[str, float]
    cpu_ms_per_job: float
    fsync: bool = True  # always: the durable write of the pipeline's R2 put

    @property
    def jobs_per_second(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def floor(jobs: int, concurrency: int = 1) -> FloorResult:
    """Synthesize each job and store it with the pipeline's own durable R2 put, ``concurrency`` at a time."""
    from local_runtime.bindings.r2 import LocalBucket
    from shared.keys import audio_key, object_metadata
    from shared.models import JobRecord, JobStatus
    from shared.ports import SynthesisRequest
    from shared.synthesis.tone import ToneSynthesizer

    synthesizer = ToneSynthesizer()
    request = SynthesisRequest(text=TEXT, model="tone", voice="default", format="wav")

    async def run(directory: Path) -> tuple[float, list[float], float]:
        bucket = LocalBucket(directory / "r2", None, time.time)
        try:
            await synthesizer.synthesize(request)  # warm the slot cache, as the runtime's first job does
            latencies: list[float] = []
            todo = iter(range(jobs))

            async def worker() -> None:
                for i in todo:
                    t0 = time.perf_counter()
                    now = time.time()
                    record = JobRecord(job_id=f"{i:032x}", tenant="bench", status=JobStatus.PROCESSING, text=TEXT,
                                       model="tone", format="wav", created_at=now, updated_at=now, ttl_seconds=86_400)
                    result = await synthesizer.synthesize(request)
                    await bucket.put(audio_key(record.job_id, now, "wav"), result.audio, content_type=result.mime_type,
                                     custom_metadata=object_metadata(record, now))
                    latencies.append(time.perf_counter() - t0)

            cpu0 = time.process_time()
            began = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
            return time.perf_counter() - began, latencies, time.process_time() - cpu0
        finally:
            bucket.close()

    with tempfile.TemporaryDirectory(prefix="bench-floor-") as directory:
        seconds, latencies, cpu = asyncio.run(run(Path(directory)))
    return FloorResult(jobs, concurrency, seconds, summary_ms(latencies), cpu / max(1, jobs) * 1000)


def synthesis_cpu(jobs: int) -> dict[str, float]:
    """CPU milliseconds per job of synthesis alone (the bench's text), for ``tone`` and the default local
    voice (Piper, where installed), in this process: what the pipeline's CPU per job is set against."""
    from shared.ports import SynthesisRequest
    from shared.synthesis.tone import ToneSynthesizer

    out: dict[str, float] = {}
    synthesizers: list[tuple[str, Any, SynthesisRequest]] = [
        ("tone", ToneSynthesizer(), SynthesisRequest(text=TEXT, model="tone", voice="default", format="wav"))]
    try:
        from shared.synthesis.piper import PiperSynthesizer

        piper = PiperSynthesizer.from_folder(None)
        if piper is not None:
            synthesizers.append(("piper", piper, SynthesisRequest(text=TEXT, model="piper", voice=piper.default_voice,
                                                                  format="wav")))
    except Exception:  # noqa: BLE001 - no Piper here: tone alone
        pass

    async def run() -> None:
        for name, synthesizer, request in synthesizers:
            await synthesizer.synthesize(request)  # warm: model load, slot cache
            n = jobs if name == "tone" else max(3, jobs // 8)
            cpu0 = time.process_time()
            for _ in range(n):
                await synthesizer.synthesize(request)
            out[name] = (time.process_time() - cpu0) / n * 1000

    asyncio.run(run())
    return out


# --- open loop: a fixed offered rate ------------------------------------------


@dataclass
class OpenLoopResult:
    rate: float  # offered submits per second
    jobs: int
    achieved_rate: float
    submit_latency_ms: dict[str, float]
    late_ms: dict[str, float]  # how far behind its schedule each submit was sent (client-side lag)
    errors: int


def open_loop(rate: float, seconds: float, work_dir: Path, env: dict[str, str] | None = None,
              senders: int = 16) -> OpenLoopResult:
    """Submit at ``rate`` jobs/s for ``seconds``: submit i is due at ``start + i / rate`` and is
    sent then by one of ``senders`` threads (each with its own keep-alive connection), whatever
    the earlier submits' latency; its latency is measured from its due time, so a server that
    falls behind shows it (coordinated omission is not hidden)."""
    body = json.dumps({"text": TEXT, "model": "tone"}).encode()
    total = max(1, int(rate * seconds))
    latencies: list[float] = []
    late: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    with RuntimeProcess(work_dir / f"open-{rate:g}", env) as runtime:
        begin = time.perf_counter() + 0.2
        counter = iter(range(total))

        def sender() -> None:
            conn = HTTPConnection("127.0.0.1", runtime.port, timeout=120)
            try:
                while True:
                    with lock:
                        i = next(counter, None)
                    if i is None:
                        return
                    due = begin + i / rate
                    wait = due - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    sent = time.perf_counter()
                    conn.request("POST", "/v1/jobs", body=body, headers=HEADERS)
                    response = conn.getresponse()
                    data = response.read()
                    done = time.perf_counter()
                    with lock:
                        if response.status != 202:
                            errors.append(f"{response.status}: {data[:100]!r}")
                        latencies.append(done - due)
                        late.append(max(0.0, sent - due))
            finally:
                conn.close()

        _run_threads([(sender, ()) for _ in range(senders)])
        elapsed = time.perf_counter() - begin
    return OpenLoopResult(rate, total, total / elapsed if elapsed > 0 else 0.0, summary_ms(latencies),
                          summary_ms(late), len(errors))


# --- submit with a long history: what a busy tenant's submit costs ------------


@dataclass
class HistoryResult:
    history: int
    jobs: int
    submit_latency_ms: dict[str, float]
    runtime_cpu_ms_per_job: float
    seed_seconds: float


def _seed_history(data_dir: Path, count: int, shard_count: int = 4) -> None:
    """``count`` finished, unexpired jobs of the anonymous tenant, written straight into the shards."""
    import uuid

    from local_runtime.bindings.sql import SqliteDurableObjectNamespace
    from shared.api.auth import ANONYMOUS_TENANT
    from shared.jobs.shard import JobShard
    from shared.jobs.sharding import shard_for
    from shared.models import JobRecord, JobStatus

    namespace = SqliteDurableObjectNamespace(data_dir)
    now = time.time()
    by_shard: dict[str, list[JobRecord]] = {}
    for _ in range(count):
        job_id = uuid.uuid4().hex
        by_shard.setdefault(shard_for(job_id, shard_count), []).append(JobRecord(
            job_id=job_id, tenant=ANONYMOUS_TENANT, status=JobStatus.COMPLETED, text="x", model="tone",
            format="wav", created_at=now, updated_at=now, completed_at=now, expires_at=now + 86_400,
            ttl_seconds=86_400))
    try:
        for name, records in by_shard.items():
            sql = namespace.get(name)
            shard = JobShard(sql, time.time)
            sql.transaction(lambda: [shard.create(r) for r in records])  # noqa: B023 - runs at once
    finally:
        namespace.close()


def submit_with_history(history: int, jobs: int, work_dir: Path) -> HistoryResult:
    """One client submits ``jobs`` jobs for a tenant that already has ``history`` unexpired jobs."""
    data_dir = work_dir / f"history-{history}"
    data_dir.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    _seed_history(data_dir, history)
    seed_seconds = time.monotonic() - began
    body = json.dumps({"text": TEXT, "model": "tone"}).encode()
    submitted: list[tuple[str, float, float]] = []
    errors: list[str] = []
    with RuntimeProcess(data_dir) as runtime:
        start = threading.Barrier(1)
        cpu0 = procstat.tree_cpu_seconds(runtime.pid)
        _submitter(runtime.port, jobs, body, submitted, errors, start)
        wait_for_queue_drained(runtime.folder, timeout=60 + jobs * 0.1)
        cpu = procstat.tree_cpu_seconds(runtime.pid) - cpu0
    if errors:
        raise RuntimeError(f"submits failed: {errors[:3]}")
    return HistoryResult(history, len(submitted), summary_ms([s for _, _, s in submitted]),
                         cpu / max(1, len(submitted)) * 1000, seed_seconds)
