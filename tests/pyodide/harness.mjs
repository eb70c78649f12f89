// Pyodide conformance harness: runs the project's Python Workers in the
// Pyodide that Cloudflare uses, against Miniflare's R2 and Queues, offline.
//
// A long-lived process that speaks JSON lines: one request per line on
// stdin, `{"id": ..., "op": ..., ...}`; one reply per line on stdout,
// `{"id": ..., "ok": true, "result": ...}` or
// `{"id": ..., "ok": false, "error": {"name", "message"}}`. Requests may
// overlap; replies carry the request's id. Everything else (Python's
// stdout/stderr, Miniflare) goes to stderr, and Python's lines are also kept
// for the `logs` op. tests/pyodide/pyodide_harness.py drives it and lists
// the ops; each handler below says what it takes and returns.
//
// Run with the Node 24 from tools/node (tools/setup_pyodide_env.sh).

import path from "node:path";
import readline from "node:readline";
import { REPO_ROOT } from "./harness/deps.mjs";
import { DurableObjectNamespace } from "./harness/durable_objects.mjs";
import { queueProducer, r2Bucket, startMiniflare } from "./harness/miniflare_env.mjs";
import { PythonWorker } from "./harness/python_worker.mjs";
import { QueueController, ScheduledController } from "./harness/runtime_shims.mjs";

const WHEEL_DIR = path.join(REPO_ROOT, ".cache/pyodide-wheels");
const DEFAULT_VENDOR = ["shared", "cloudflare_adapters"];

// Only the protocol writes to stdout.
console.log = console.info = console.debug = console.error;

// No network in tests: Python code that fetches the outside world fails
// loudly instead of hanging. Loopback (Miniflare) stays reachable.
const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => {
  const url = new URL(input instanceof Request ? input.url : String(input));
  if (!["localhost", "127.0.0.1", "[::1]"].includes(url.hostname)) {
    return Promise.reject(new TypeError(`harness: outbound fetch to ${url.origin} is blocked in tests`));
  }
  return realFetch(input, init);
};

// --- state -------------------------------------------------------------------

let spec = null; // {workers: {name: workerSpec}}, from the `init` requests
let miniflare = null; // {mf, bridge}
const getBridge = () => miniflare.bridge;
const pythonWorkers = new Map(); // name -> PythonWorker (started on first use)
const doInstances = new Map(); // "host/class" -> Map(id -> {state, instance})
const logs = []; // {seq, worker, stream, line}
const queueLog = []; // {seq, queue, worker, messages, calls, error, waitUntilErrors}

function log(worker, stream, line) {
  logs.push({ seq: logs.length + 1, worker, stream, line });
  process.stderr.write(`[${worker} ${stream}] ${line}\n`);
}

function workerSpec(name) {
  const w = spec?.workers?.[name];
  if (!w) throw new Error(`harness: unknown worker ${JSON.stringify(name)} (call init first)`);
  return w;
}

// env as workerd builds it from the wrangler config: vars and secrets as
// given (strings), then the bindings.
function buildEnv(name) {
  const w = workerSpec(name);
  const env = { ...(w.vars ?? {}), ...(w.secrets ?? {}) };
  for (const [binding, bucket] of Object.entries(w.r2_buckets ?? {})) env[binding] = r2Bucket(getBridge, bucket);
  for (const [binding, queue] of Object.entries(w.queue_producers ?? {})) env[binding] = queueProducer(getBridge, queue);
  for (const [binding, d] of Object.entries(w.durable_objects ?? {})) {
    const host = d.script_name ?? name;
    const key = `${host}/${d.class_name}`;
    if (!doInstances.has(key)) doInstances.set(key, new Map());
    env[binding] = new DurableObjectNamespace(d.class_name, () => pythonWorker(host).ready, doInstances.get(key));
  }
  return env;
}

function pythonWorker(name) {
  let worker = pythonWorkers.get(name);
  if (!worker) {
    const w = workerSpec(name);
    worker = new PythonWorker({
      name,
      repoRoot: REPO_ROOT,
      srcDir: w.src,
      mainModule: w.main ?? "entry",
      vendorPackages: w.vendor ?? DEFAULT_VENDOR,
      bundleDir: w.bundle ?? null,
      wheelDir: WHEEL_DIR,
      env: buildEnv(name),
      compatFlags: w.compat_flags ?? {},
      log: (stream, line) => log(name, stream, line),
      profileImports: Boolean(w.profile_imports),
    });
    pythonWorkers.set(name, worker);
  }
  return worker;
}

async function readyWorker(name) {
  return await pythonWorker(name).ready;
}

function consumerOf(queue) {
  for (const [name, w] of Object.entries(spec.workers)) {
    if ((w.queue_consumers ?? []).some((c) => c.queue === queue)) return name;
  }
  throw new Error(`harness: no worker consumes queue ${JSON.stringify(queue)}`);
}

// Delivers one batch to the consuming Worker's Python `queue(batch)`.
async function deliverBatch({ queue, messages }, worker = consumerOf(queue)) {
  const batch = new QueueController(queue, messages);
  const { error, waitUntilErrors } = await (await readyWorker(worker)).event("queue", batch);
  return { worker, calls: batch.calls, error, waitUntilErrors };
}

async function startMiniflareFromSpec() {
  const buckets = new Set();
  const queues = new Set();
  const consumers = {};
  for (const w of Object.values(spec.workers)) {
    Object.values(w.r2_buckets ?? {}).forEach((b) => buckets.add(b));
    Object.values(w.queue_producers ?? {}).forEach((q) => queues.add(q));
    for (const c of w.queue_consumers ?? []) {
      consumers[c.queue] = c;
      if (c.dead_letter_queue) queues.add(c.dead_letter_queue);
    }
  }
  miniflare = await startMiniflare({
    buckets: [...buckets],
    queues: [...queues],
    consumers,
    onQueueBatch: async (delivery) => {
      let outcome;
      try {
        outcome = await deliverBatch(delivery);
      } catch (err) {
        outcome = { worker: null, calls: [], error: `harness: ${err.message}`, waitUntilErrors: [] };
      }
      queueLog.push({ seq: queueLog.length + 1, queue: delivery.queue, messages: delivery.messages, ...outcome });
      return { calls: outcome.calls, error: outcome.error };
    },
  });
}

const b64 = (buf) => Buffer.from(buf).toString("base64");

async function waitFor(predicate, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

// A stub of a Durable Object, as a Worker bound to it would get one.
function durableObjectStub({ worker, binding, name }) {
  const ns = pythonWorker(worker).env[binding];
  if (!(ns instanceof DurableObjectNamespace)) throw new Error(`harness: ${worker}.${binding} is not a Durable Object binding`);
  return ns.getByName(name);
}

// --- ops -------------------------------------------------------------------

const ops = {
  // {workers: {name: {src, main?, vendor? | bundle?, vars?, secrets?, r2_buckets?,
  //  queue_producers?, queue_consumers?, durable_objects?, compat_flags?,
  //  profile_imports?}}}
  // Additive: a later init adds Workers and restarts Miniflare (emptying R2
  // and the queues) so that it binds their buckets and queues too.
  async init(req) {
    spec ??= { workers: {} };
    for (const [name, w] of Object.entries(req.workers)) {
      if (spec.workers[name]) throw new Error(`harness: worker ${name} already added`);
      spec.workers[name] = w;
    }
    const t = performance.now();
    await miniflare?.mf.dispose();
    await startMiniflareFromSpec();
    return { miniflare_ms: Math.round(performance.now() - t) };
  },

  // Starts a Worker's Pyodide (otherwise started on first use); returns the
  // cold-start timings. `workers: [...]` starts several side by side (their
  // timings then include the contention).
  async start({ worker, workers }) {
    if (workers) {
      const started = await Promise.all(workers.map(readyWorker));
      return Object.fromEntries(started.map((w) => [w.name, w.timings]));
    }
    return (await readyWorker(worker)).timings;
  },

  async timings() {
    const out = {};
    for (const [name, w] of pythonWorkers) out[name] = w.timings;
    return out;
  },

  // Each started Worker's Wasm heap size, in bytes (it only grows).
  async memory() {
    const out = {};
    for (const [name, w] of pythonWorkers) if (w.pyodide) out[name] = w.wasmMemoryBytes;
    return out;
  },

  // {worker, method?, path, headers?: {..} | [[k, v]...], bodyBase64?}
  async fetch({ worker, method = "GET", path: p = "/", url, headers, bodyBase64 }) {
    const request = new Request(url ?? new URL(p, `https://${worker}.harness.test`).href, {
      method,
      headers: headers ?? {},
      body: bodyBase64 == null ? undefined : Buffer.from(bodyBase64, "base64"),
    });
    const { response, waitUntilErrors } = await (await readyWorker(worker)).fetch(request);
    if (!(response instanceof Response)) throw new TypeError(`fetch handler returned ${String(response)}, not a Response`);
    return {
      status: response.status,
      headers: [...response.headers],
      bodyBase64: b64(await response.arrayBuffer()),
      waitUntilErrors,
    };
  },

  // For benchmarks: like fetch, but the body is drained in JS and only
  // counted, never returned. {worker, method?, path, headers?} -> status,
  // headers, bytes, handler_ms (until the Response), body_ms (draining it),
  // cpu_ms (the process's), the Worker's Wasm heap before and after, and the
  // largest process.memoryUsage().arrayBuffers seen (sampled per chunk).
  async fetch_stats({ worker, method = "GET", path: p = "/", headers }) {
    const w = await readyWorker(worker);
    const request = new Request(new URL(p, `https://${worker}.harness.test`).href, { method, headers: headers ?? {} });
    const wasmBefore = w.wasmMemoryBytes;
    let arrayBuffersPeak = process.memoryUsage().arrayBuffers;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const { response, waitUntilErrors } = await w.fetch(request);
    const t1 = performance.now();
    let bytes = 0;
    if (response.body) {
      for await (const chunk of response.body) {
        bytes += chunk.byteLength;
        arrayBuffersPeak = Math.max(arrayBuffersPeak, process.memoryUsage().arrayBuffers);
      }
    }
    const t2 = performance.now();
    const cpu = process.cpuUsage(cpu0);
    return {
      status: response.status,
      headers: [...response.headers],
      bytes,
      handler_ms: t1 - t0,
      body_ms: t2 - t1,
      cpu_ms: (cpu.user + cpu.system) / 1000,
      wasm_before: wasmBefore,
      wasm_after: w.wasmMemoryBytes,
      array_buffers_peak: arrayBuffersPeak,
      waitUntilErrors,
    };
  },

  // Calls queue(batch) directly, without Miniflare: {worker?, queue,
  // messages: [{body, attempts?, id?, timestamp?}]} -> {calls, error}.
  async queue({ worker, queue, messages }) {
    const now = Date.now();
    const full = messages.map((m, i) => ({
      id: m.id ?? `msg-${now}-${i}`,
      timestamp: m.timestamp ?? now,
      body: m.body,
      attempts: m.attempts ?? 1,
    }));
    return await deliverBatch({ queue, messages: full }, worker ?? consumerOf(queue));
  },

  // Sends a message into Miniflare's queue, as a producer would.
  async queue_send({ queue, body, options }) {
    await queueProducer(getBridge, queue).send(body, options);
    return null;
  },

  // Deliveries Miniflare made to consumers: entries after `since`, waiting up
  // to timeoutMs for at least `min` of them.
  async queue_log({ since = 0, min = 0, timeoutMs = 10000 }) {
    await waitFor(() => queueLog.length - since >= min, timeoutMs);
    return { entries: queueLog.slice(since), next: queueLog.length };
  },

  // {worker, cron?, scheduledTime?} -> {error, noRetry}
  async scheduled({ worker, cron = "* * * * *", scheduledTime = Date.now() }) {
    const controller = new ScheduledController(scheduledTime, cron);
    const outcome = await (await readyWorker(worker)).event("scheduled", controller);
    return { ...outcome, noRetry: controller.noRetryCalled };
  },

  // Python probe in a Worker's interpreter: {worker, code} -> {json} | {repr}
  async run_python({ worker, code }) {
    return await (await readyWorker(worker)).runPython(code);
  },

  // Calls a Durable Object's RPC method from outside, through a stub:
  // {worker, binding, name, method, args}
  async do_call({ worker, binding, name, method, args = [] }) {
    await readyWorker(worker);
    return await durableObjectStub({ worker, binding, name })[method](...args);
  },

  // Reads a Durable Object's SQLite directly (test inspection):
  // {worker, binding, name, query, bindings?} -> rows (BLOBs as base64)
  async do_sql({ worker, binding, name, query, bindings = [] }) {
    await readyWorker(worker);
    const ns = pythonWorker(worker).env[binding];
    const { state } = await ns.stateOf(ns.idFromName(name));
    return state.storage.sql.exec(query, ...bindings).toArray().map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof ArrayBuffer ? { base64: b64(v) } : v])));
  },

  // {bucket, key} -> {meta, bodyBase64} | null
  async r2_get({ bucket, key }) {
    const obj = await r2Bucket(getBridge, bucket).get(key);
    if (obj === null) return null;
    return { meta: plainMeta(obj), bodyBase64: b64(await obj.arrayBuffer()) };
  },

  // {bucket, prefix?} -> every object's metadata (all pages)
  async r2_list({ bucket, prefix }) {
    const out = [];
    let cursor;
    do {
      const page = await r2Bucket(getBridge, bucket).list({ prefix, cursor, include: ["httpMetadata", "customMetadata"] });
      out.push(...page.objects.map(plainMeta));
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    return out;
  },

  // {bucket, key, bodyBase64, httpMetadata?, customMetadata?} (seeding tests)
  async r2_put({ bucket, key, bodyBase64, httpMetadata, customMetadata }) {
    const obj = await r2Bucket(getBridge, bucket).put(key, Buffer.from(bodyBase64, "base64"), { httpMetadata, customMetadata });
    return plainMeta(obj);
  },

  // Python's stdout/stderr lines after `since`: {since?, worker?}
  async logs({ since = 0, worker }) {
    const entries = logs.slice(since).filter((e) => !worker || e.worker === worker);
    return { entries, next: logs.length };
  },

  // Empties storage: a fresh Miniflare (R2, queues) and fresh Durable
  // Objects. Python modules stay imported, like a warm isolate.
  async reset() {
    await miniflare.mf.dispose();
    for (const instances of doInstances.values()) {
      for (const entry of instances.values()) entry.state.storage.close();
      instances.clear();
    }
    queueLog.length = 0;
    await startMiniflareFromSpec();
    return null;
  },

  async shutdown() {
    setImmediate(async () => {
      await miniflare?.mf.dispose();
      process.exit(0);
    });
    return null;
  },
};

function plainMeta(o) {
  return {
    key: o.key,
    size: o.size,
    etag: o.etag,
    uploaded: o.uploaded.getTime(),
    httpMetadata: o.httpMetadata,
    customMetadata: o.customMetadata,
  };
}

// --- JSON lines loop ---------------------------------------------------------

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function handle(line) {
  let req;
  try {
    req = JSON.parse(line);
    const op = ops[req.op];
    if (!op) throw new Error(`harness: unknown op ${JSON.stringify(req.op)}`);
    reply({ id: req.id, ok: true, result: (await op(req)) ?? null });
  } catch (err) {
    reply({ id: req?.id ?? null, ok: false, error: { name: err?.name ?? "Error", message: String(err?.message ?? err), stack: err?.stack } });
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => { if (line.trim()) handle(line); });
rl.on("close", async () => {
  await miniflare?.mf.dispose();
  process.exit(0);
});
reply({ id: null, ok: true, result: { ready: true, node: process.versions.node } });
