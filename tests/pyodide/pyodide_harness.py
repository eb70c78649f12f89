"""Python side of the Pyodide conformance harness (tests/pyodide/harness.mjs).

``Harness`` starts the Node 24 process once and talks JSON lines to it;
``worker_spec`` turns a Worker's wrangler config into the harness's spec.

Protocol: one JSON object per line each way. A request is
``{"id": n, "op": name, ...fields}``; its reply is
``{"id": n, "ok": true, "result": ...}`` or
``{"id": n, "ok": false, "error": {"name", "message", "stack"}}``.
Ops (fields after the name):

- ``init`` workers={name: spec}: adds Workers (see ``worker_spec``) and
  (re)starts Miniflare with every bucket and queue they bind. Additive.
- ``start`` worker: starts that Worker's Pyodide now (else on first use);
  returns its cold-start timings in ms: loadPyodide, install_wheels,
  import_pydantic, import_workers_sdk, import_entry, total (each also as
  ``<name>_cpu_ms``, the process's CPU time). With
  ``workers=[...]`` instead, starts them side by side.
- ``timings``: the timings of every started Worker.
- ``memory``: each started Worker's Wasm heap, in bytes.
- ``fetch`` worker, method, path | url, headers, bodyBase64: calls
  ``Default.fetch`` with a real ``Request``; returns status, headers
  (pairs), bodyBase64, waitUntilErrors.
- ``fetch_stats`` worker, method, path, headers: ``fetch`` for benchmarks:
  the body is drained and counted in JS, not returned; returns status,
  headers, bytes, handler_ms, body_ms, cpu_ms, wasm_before, wasm_after,
  array_buffers_peak.
- ``queue`` queue, messages=[{body, attempts?, id?, timestamp?}], worker?:
  calls the consumer's ``queue(batch)`` directly; returns the ack/retry
  ``calls`` in order and the handler's ``error``.
- ``queue_send`` queue, body, options: sends into Miniflare's queue.
- ``queue_log`` since, min, timeoutMs: batches Miniflare delivered to the
  consumers (waits for ``min`` new ones); each with queue, worker, messages,
  calls, error; ``next`` is the cursor for the following call.
- ``scheduled`` worker, cron, scheduledTime: calls ``scheduled(controller)``.
- ``run_python`` worker, code: runs code (top-level await allowed) in the
  Worker's interpreter; returns ``{"json": value}`` or ``{"repr": text}``.
- ``do_call`` worker, binding, name, method, args: an RPC call on a Durable
  Object stub, as a Worker bound to it would make.
- ``do_sql`` worker, binding, name, query, bindings: reads the object's
  SQLite directly (BLOBs as ``{"base64": ...}``).
- ``r2_get`` bucket, key / ``r2_list`` bucket, prefix / ``r2_put`` bucket,
  key, bodyBase64, httpMetadata, customMetadata: Miniflare's bucket directly.
- ``logs`` since, worker: Python stdout/stderr lines.
- ``reset``: fresh R2, queues and Durable Objects (Python stays imported).
- ``shutdown``.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import re
import subprocess
import threading
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS_JS = Path(__file__).with_name("harness.mjs")


class HarnessError(RuntimeError):
    """Raised when the harness answers a request with an error."""

    def __init__(self, op: str, error: dict[str, Any]):
        super().__init__(f"{op}: {error.get('name')}: {error.get('message')}")
        self.name = error.get("name")
        self.message = error.get("message", "")


@dataclass
class HarnessResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    wait_until_errors: list[str] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        return json.loads(self.body)


class Harness:
    """One Node process hosting Pyodide Workers and Miniflare."""

    def __init__(self, node: str, log_path: Path, timeout: float = 120.0):
        self._log = open(log_path, "wb")
        self._proc = subprocess.Popen(
            [node, str(HARNESS_JS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=REPO_ROOT,
        )
        self._ids = itertools.count(1)
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._workers: set[str] = set()
        self.timeout = timeout
        threading.Thread(target=self._read, daemon=True).start()
        ready = self._replies.get(timeout=timeout)
        if not ready or not ready.get("ok"):
            raise RuntimeError(f"harness did not start; see {log_path}")
        self.log_path = log_path

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._replies.put(json.loads(line))
        self._replies.put(None)

    def call(self, op: str, timeout: float | None = None, **fields: Any) -> Any:
        """Sends one request and waits for its reply (requests are serialised)."""
        with self._lock:
            request_id = next(self._ids)
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"id": request_id, "op": op, **fields}).encode() + b"\n")
            self._proc.stdin.flush()
            while True:
                reply = self._replies.get(timeout=timeout or self.timeout)
                if reply is None:
                    raise RuntimeError(f"harness exited; see {self.log_path}")
                if reply.get("id") == request_id:
                    break
        if not reply["ok"]:
            raise HarnessError(op, reply["error"])
        return reply["result"]

    def close(self) -> None:
        try:
            self.call("shutdown", timeout=10)
            self._proc.wait(timeout=10)
        except Exception:  # noqa: BLE001 - best effort, then kill
            self._proc.kill()
        self._log.close()

    # --- conveniences ---------------------------------------------------------

    def add_workers(self, specs: dict[str, dict[str, Any]]) -> None:
        """Adds Workers not added yet (restarting Miniflare when any is new)."""
        new = {name: spec for name, spec in specs.items() if name not in self._workers}
        if new:
            self.call("init", workers=new)
            self._workers.update(new)

    def fetch(
        self,
        worker: str,
        path: str,
        *,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: bytes | str | None = None,
        json_body: Any = None,
    ) -> HarnessResponse:
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("content-type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        result = self.call(
            "fetch",
            worker=worker,
            method=method,
            path=path,
            headers=headers,
            bodyBase64=None if body is None else base64.b64encode(body).decode(),
        )
        return HarnessResponse(
            status=result["status"],
            headers=[tuple(h) for h in result["headers"]],
            body=base64.b64decode(result["bodyBase64"]),
            wait_until_errors=result["waitUntilErrors"],
        )

    def run_python(self, worker: str, code: str) -> Any:
        result = self.call("run_python", worker=worker, code=code)
        if "json" in result:
            return result["json"]
        return result["repr"]

    def r2_get(self, bucket: str, key: str) -> tuple[dict[str, Any], bytes] | None:
        result = self.call("r2_get", bucket=bucket, key=key)
        if result is None:
            return None
        return result["meta"], base64.b64decode(result["bodyBase64"])

    def r2_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [o["key"] for o in self.call("r2_list", bucket=bucket, prefix=prefix)]


# --- wrangler config -> harness spec -------------------------------------------


def _strip_jsonc(text: str) -> str:
    """JSON with comments and trailing commas -> JSON (strings left intact)."""
    token = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
    text = token.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    return re.sub(r",(\s*[}\]])", r"\1", text)


def read_wrangler_config(worker_dir: Path) -> dict[str, Any]:
    for name in ("wrangler.toml", "wrangler.jsonc", "wrangler.json"):
        path = worker_dir / name
        if path.exists():
            if name.endswith(".toml"):
                return tomllib.loads(path.read_text())
            return json.loads(_strip_jsonc(path.read_text()))
    raise FileNotFoundError(f"no wrangler config in {worker_dir}")


def worker_spec(
    worker_dir: Path,
    *,
    script_names: dict[str, str] | None = None,
    secrets: dict[str, str] | None = None,
    vars_override: dict[str, str] | None = None,
    vendor: list[str] | None = None,
    consumer_overrides: dict[str, Any] | None = None,
    bundle: bool | None = None,
) -> dict[str, Any]:
    """The harness spec of the Worker whose wrangler config is in ``worker_dir``.

    A Worker under ``workers/`` runs from its ``python_modules/`` bundle,
    (re)built by ``tooling.vendor`` when stale: the files wrangler
    uploads, pruned to the modules the entry imports. Other Workers (the
    fixture) get the wheels and the ``vendor`` folders mounted whole
    (``bundle=False`` forces that for a real Worker too).

    ``script_names`` maps a wrangler ``name`` (a Durable Object binding's
    ``script_name``) to the harness name of the Worker that hosts the class.
    Secrets are not in wrangler configs: pass them here.
    ``consumer_overrides`` replaces queue consumer settings (tests set
    ``max_batch_timeout`` to 0 rather than wait for fuller batches).
    """
    config = read_wrangler_config(worker_dir)
    main = Path(config["main"])
    if main.suffix != ".py":
        raise ValueError(f"{worker_dir}: main {main} is not a Python module")
    queues = config.get("queues", {})
    spec: dict[str, Any] = {
        "src": str((worker_dir / main.parent).resolve().relative_to(REPO_ROOT)),
        "main": main.stem,
        "vars": {**config.get("vars", {}), **(vars_override or {})},
        "secrets": dict(secrets or {}),
        "r2_buckets": {b["binding"]: b["bucket_name"] for b in config.get("r2_buckets", [])},
        "queue_producers": {p["binding"]: p["queue"] for p in queues.get("producers", [])},
        "queue_consumers": [
            {
                key: c.get(key)
                for key in (
                    "queue",
                    "max_batch_size",
                    "max_batch_timeout",
                    "max_retries",
                    "dead_letter_queue",
                    "retry_delay",
                )
                if c.get(key) is not None
            }
            | (consumer_overrides or {})
            for c in queues.get("consumers", [])
        ],
        "durable_objects": {
            b["name"]: {
                "class_name": b["class_name"],
                **(
                    {"script_name": (script_names or {}).get(b["script_name"], b["script_name"])}
                    if b.get("script_name")
                    else {}
                ),
            }
            for b in config.get("durable_objects", {}).get("bindings", [])
        },
        "compat_flags": {flag: True for flag in config.get("compatibility_flags", [])},
    }
    if vendor is not None:
        spec["vendor"] = vendor
    if bundle is None:
        bundle = vendor is None and worker_dir.resolve().parent == REPO_ROOT / "workers"
    if bundle:
        from tooling.vendor import BUNDLE_DIR, build

        build(worker_dir.resolve())
        spec["bundle"] = str((worker_dir / BUNDLE_DIR).resolve().relative_to(REPO_ROOT))
    return spec
