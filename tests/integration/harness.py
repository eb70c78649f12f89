"""Start a runtime as a real process on a free loopback port, and talk HTTP to it.

``runtime="local"`` is ``tts-pipeline dev`` (CPython); ``runtime="workerd"`` is
``tts-pipeline dev --runtime workerd`` (the Workers in wrangler dev on
workerd). Both print the same JSON ``started`` line and serve the same API.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

from tooling.dev_process import DevProcess


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Pipeline:
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen[str] | None = None
    log_lines: list[str] = field(default_factory=list)
    runtime: str = "local"
    dev_args: list[str] = field(default_factory=list)  # more `tts-pipeline dev` options
    started: dict[str, Any] = field(default_factory=dict)  # the runtime's `started` line
    file_limit: int | None = None  # the runtime's RLIMIT_NOFILE, soft and hard (None: inherited)
    wrapper: list[str] = field(default_factory=list)  # a command the runtime's is run under (it execs it)
    # Run from this folder without --data-dir (the first command's default, .tts-data there); data_dir is ignored.
    cwd: Path | None = None
    _dev: DevProcess | None = field(default=None, repr=False)

    def start(self, timeout: float | None = None) -> Pipeline:
        # Suites submit without a model and expect tone's speed and limits; the
        # automatic default (espeak here) is tested with DEFAULT_MODEL="". They submit the same
        # text again and expect it synthesized again: the synthesis cache is on where a suite says
        # so (test_synthesis_cache_http.py).
        env = {"DEFAULT_MODEL": "tone", "SYNTHESIS_CACHE": "off", **os.environ, "CRON_INTERVAL_SECONDS": "0",
               **self.env}
        extra = ["--runtime", self.runtime] if self.runtime != "local" else []
        timeout = timeout or (20.0 if self.runtime == "local" else 240.0)
        self._dev = DevProcess(
            None if self.cwd is not None else self.data_dir, dev_args=[*extra, *self.dev_args], env=env,
            cwd=self.cwd, wrapper=self.wrapper,
            preexec_fn=self._limit_files if self.file_limit is not None else None,
        )
        self._dev.log_lines = self.log_lines
        try:
            self.started = self._dev.start(timeout)
        finally:
            self.process = self._dev.process
        self.port = self._dev.port
        return self

    def _limit_files(self) -> None:  # runs in the child, before exec
        import resource

        assert self.file_limit is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.file_limit, self.file_limit))

    def object_keys(self) -> list[str]:
        """Keys in the R2 bucket, read from its index (what a listing would return)."""
        if self.runtime == "workerd":  # Miniflare's R2: one SQLite object per bucket
            folder = Path(self.data_dir, "workerd", "state", "v3", "r2", "miniflare-R2BucketObject")
            index = next(p for p in folder.glob("*.sqlite") if p.name != "metadata.sqlite")
            query = "SELECT key FROM _mf_objects"
        else:
            index = next(Path(self.data_dir, "r2").rglob("*.sqlite"))
            query = "SELECT key FROM objects"
        with sqlite3.connect(index) as db:
            return [row[0] for row in db.execute(query)]

    def kill(self) -> None:
        """kill -9 of the runtime and everything it started: no cleanup, no flush."""
        if self._dev is not None:
            self._dev.kill()
        self.process = None

    def stop(self) -> None:
        if self._dev is not None:
            self._dev.stop(grace=20.0)
        self.process = None

    def request(
        self, method: str, path: str, *, json_body: Any = None, body: bytes | None = None,
        headers: dict[str, str] | None = None, token: str | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers.setdefault("Content-Type", "application/json")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            try:
                conn.request(method, path, body=body, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                # The server answered (413) and closed before the body was all
                # sent, as RFC 9110 allows: its answer is still there to read.
                pass
            response = conn.getresponse()
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            conn.close()

    def submit(self, text: str = "Hello from the pipeline", token: str | None = None, **fields: Any) -> dict[str, Any]:
        reply = self.request("POST", "/v1/jobs", json_body={"text": text, **fields}, token=token)
        assert reply.status == 202, reply.body
        return reply.json()

    def wait(self, job_id: str, token: str | None = None, timeout: float = 30.0,
             until: tuple[str, ...] = ("completed", "failed", "canceled")) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.request("GET", f"/v1/jobs/{job_id}", token=token).json()
            if job.get("status") in until or time.monotonic() > deadline:
                return job
            time.sleep(0.05)
