"""A plain self-hosted TTS job pipeline: the bench's baseline, what a user could build in fifteen minutes.

Starlette on uvicorn, a SQLite table of jobs as the queue, a thread pool of
workers, and files for the audio; the same synthesizer as the pipeline
(``tone``) and the same durability: the submit's row is committed with
``synchronous=FULL`` before the 202, and each audio file is written to a
temporary name, fsynced, renamed and its directory fsynced before the job
is marked completed (as ``LocalBucket.put`` does). No auth, no tenants, no
limits, no retries, no leases: a worker that dies loses its job.

Its HTTP surface is the part of ours the bench uses: ``POST /v1/jobs``
(``{"text", "model"}`` -> 202 ``{"jobId"}``), ``GET /v1/jobs/{id}``
(``{"jobId", "status", "createdAt", "completedAt"}``).

    python -m bench.baselines.plain --port 0 --data-dir DIR [--threads N]

prints ``{"event":"started","url":...}`` once it listens, as ``tts-pipeline dev`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shared.ports import SynthesisRequest
from shared.synthesis.tone import ToneSynthesizer

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, text TEXT NOT NULL, model TEXT NOT NULL, status TEXT NOT NULL,
    created_at REAL NOT NULL, completed_at REAL, path TEXT
);
CREATE INDEX IF NOT EXISTS jobs_queued ON jobs (status, created_at);
"""


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts is not None else None


class Plain:
    def __init__(self, data_dir: Path, threads: int) -> None:
        self.data_dir = data_dir
        self.audio = data_dir / "audio"
        self.audio.mkdir(parents=True, exist_ok=True)
        self.db = data_dir / "jobs.sqlite"
        setup = _connect(self.db)
        setup.executescript(SCHEMA)
        setup.close()
        self.api = _connect(self.db)
        self.api_lock = threading.Lock()
        self.ready = threading.Condition()
        self.synthesizer = ToneSynthesizer()
        self.workers = [threading.Thread(target=self._work, daemon=True) for _ in range(threads)]
        for worker in self.workers:
            worker.start()

    # --- HTTP ---------------------------------------------------------------

    async def submit(self, request: Request) -> JSONResponse:
        body = await request.json()
        job_id = uuid.uuid4().hex
        with self.api_lock:
            self.api.execute("INSERT INTO jobs (id, text, model, status, created_at) VALUES (?, ?, ?, 'queued', ?)",
                             (job_id, str(body["text"]), str(body.get("model", "tone")), _now()))
        with self.ready:
            self.ready.notify()
        return JSONResponse({"jobId": job_id, "status": "queued"}, status_code=202)

    async def status(self, request: Request) -> JSONResponse:
        with self.api_lock:
            row = self.api.execute("SELECT status, created_at, completed_at FROM jobs WHERE id = ?",
                                   (request.path_params["job_id"],)).fetchone()
        if row is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse({"jobId": request.path_params["job_id"], "status": row[0], "createdAt": _iso(row[1]),
                             "completedAt": _iso(row[2])})

    # --- the workers --------------------------------------------------------

    def _claim(self, conn: sqlite3.Connection) -> tuple[str, str, str] | None:
        row = conn.execute(
            "UPDATE jobs SET status = 'processing' WHERE id = (SELECT id FROM jobs WHERE status = 'queued' "
            "ORDER BY created_at LIMIT 1) RETURNING id, text, model").fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _work(self) -> None:
        conn = _connect(self.db)
        loop = asyncio.new_event_loop()
        while True:
            job = self._claim(conn)
            if job is None:
                with self.ready:
                    self.ready.wait(0.5)
                continue
            job_id, text, model = job
            result = loop.run_until_complete(self.synthesizer.synthesize(
                SynthesisRequest(text=text, model=model, voice="default", format="wav")))
            path = self.audio / f"{job_id}.wav"
            _write_durably(path, result.audio)
            conn.execute("UPDATE jobs SET status = 'completed', completed_at = ?, path = ? WHERE id = ?",
                         (_now(), str(path), job_id))


def _now() -> float:
    import time

    return time.time()


def _write_durably(path: Path, data: bytes) -> None:
    """Temporary file, fsync, rename, directory fsync: the file is there after a crash, whole or not at all."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    plain = Plain(args.data_dir, args.threads)
    app = Starlette(routes=[Route("/v1/jobs", plain.submit, methods=["POST"]),
                            Route("/v1/jobs/{job_id}", plain.status, methods=["GET"])])
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                            lifespan="off")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print(json.dumps({"event": "started", "url": f"http://{args.host}:{port}"}, separators=(",", ":")),
              flush=True)
        await task

    asyncio.run(serve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
