// R2 buckets and queues from Miniflare (Cloudflare's own local simulator,
// running workerd), offline, in memory.
//
// Miniflare hosts one small JS "bridge" Worker that owns every bucket and
// queue binding:
//   - Node reaches the bindings through the bridge's RPC entrypoint: the
//     arguments (the JS values the Python side produced) go to workerd's real
//     R2 and Queue bindings, which validate them as on Cloudflare; results
//     come back as plain data in one round trip. (Miniflare's own Node-side
//     binding proxies, mf.getR2Bucket(), cost one blocking round trip per
//     property read: ~2.5 ms, so a 1,000-object listing would take seconds.)
//   - the bridge is the consumer of every queue: its `queue(batch)` posts the
//     messages to Node over a service binding, Node runs the Python consumer,
//     and the bridge replays the consumer's ack/retry calls on Miniflare's
//     real batch, so Miniflare applies retries, delays, max_retries and the
//     dead-letter queue.
// The objects handed to Python carry workerd's class names (R2Bucket,
// WorkerQueue, HeadResult, GetResult, Checksums): the SDK wraps an env
// binding only if its constructor is named as in workerd.

import { Miniflare } from "./deps.mjs";

const BRIDGE_SCRIPT = `
import { WorkerEntrypoint } from "cloudflare:workers";

function meta(o) {
  return {
    key: o.key, version: o.version, size: o.size, etag: o.etag, httpEtag: o.httpEtag,
    uploaded: o.uploaded, httpMetadata: o.httpMetadata, customMetadata: o.customMetadata,
    range: o.range, checksums: o.checksums.toJSON(), storageClass: o.storageClass,
  };
}

export class Bridge extends WorkerEntrypoint {
  async r2(binding, method, args) {
    const result = await this.env[binding][method](...args);
    if (method === "list") return { ...result, objects: result.objects.map(meta) };
    if (method === "delete" || result === null) return null;
    // get() returns an object without a body when an onlyIf condition fails.
    return { meta: meta(result), hasBody: "body" in result, body: result.body ?? null };
  }
  // Multipart, by (key, uploadId) on every call as the real binding allows.
  async mpu(binding, op, key, uploadId, args) {
    const bucket = this.env[binding];
    if (op === "create") {
      const upload = await bucket.createMultipartUpload(key, ...args);
      return { key: upload.key, uploadId: upload.uploadId };
    }
    const upload = bucket.resumeMultipartUpload(key, uploadId);
    if (op === "uploadPart") {
      const part = await upload.uploadPart(...args);
      return { partNumber: part.partNumber, etag: part.etag };
    }
    if (op === "complete") return { meta: meta(await upload.complete(...args)) };
    await upload.abort();
    return null;
  }
  async send(binding, body, options) { await this.env[binding].send(body, options); }
  async sendBatch(binding, messages, options) { await this.env[binding].sendBatch(messages, options); }
}

export default {
  async fetch() { return new Response("harness bridge"); },
  async queue(batch, env) {
    const messages = batch.messages.map((m) => ({
      id: m.id, timestamp: m.timestamp.getTime(), body: m.body, attempts: m.attempts,
    }));
    const response = await env.HARNESS_NODE.fetch("http://harness/queue", {
      method: "POST", body: JSON.stringify({ queue: batch.queue, messages }),
    });
    const outcome = await response.json();
    const byId = new Map(batch.messages.map((m) => [m.id, m]));
    for (const c of outcome.calls) {
      if (c.call === "ack") byId.get(c.id).ack();
      else if (c.call === "retry") byId.get(c.id).retry(c.options);
      else if (c.call === "ackAll") batch.ackAll();
      else if (c.call === "retryAll") batch.retryAll(c.options);
    }
    if (outcome.error !== null) throw new Error(outcome.error);
  },
};
`;

const r2Binding = (bucket) => `R2_${bucket.replace(/\W/g, "_")}`;
const queueBinding = (queue) => `Q_${queue.replace(/\W/g, "_")}`;

// buckets: bucket names; queues: queue names; consumers: {queue: {max_batch_size,
// max_batch_timeout, max_retries, dead_letter_queue, retry_delay}} (wrangler's
// names); onQueueBatch({queue, messages}) -> {calls, error}.
export async function startMiniflare({ buckets, queues, consumers, onQueueBatch }) {
  const queueConsumers = {};
  for (const [queue, c] of Object.entries(consumers)) {
    queueConsumers[queue] = {
      maxBatchSize: c.max_batch_size ?? 10,
      // Tests do not want Cloudflare's 5 s default wait for a fuller batch.
      maxBatchTimeout: c.max_batch_timeout ?? 0,
      maxRetries: c.max_retries ?? 3,
      deadLetterQueue: c.dead_letter_queue ?? undefined,
      retryDelay: c.retry_delay ?? 0,
    };
  }
  const allQueues = new Set([...queues, ...Object.keys(consumers)]);
  const mf = new Miniflare({
    workers: [{
      name: "harness-bridge",
      modules: true,
      script: BRIDGE_SCRIPT,
      compatibilityDate: "2026-07-01",
      r2Buckets: Object.fromEntries(buckets.map((b) => [r2Binding(b), b])),
      queueProducers: Object.fromEntries([...allQueues].map((q) => [queueBinding(q), { queueName: q }])),
      queueConsumers,
      serviceBindings: {
        HARNESS_BRIDGE: { name: "harness-bridge", entrypoint: "Bridge" },
        HARNESS_NODE: async (request) => Response.json(await onQueueBatch(await request.json())),
      },
    }],
  });
  await mf.ready;
  return { mf, bridge: (await mf.getBindings()).HARNESS_BRIDGE };
}

// The binding stand-ins take a function returning the current bridge, so
// that they survive a reset (a new Miniflare) of the harness.
export const r2Bucket = (getBridge, bucket) => new R2Bucket(getBridge, r2Binding(bucket));
export const queueProducer = (getBridge, queue) => new WorkerQueue(getBridge, queueBinding(queue));

// --- workerd-named stand-ins handed to Python ----------------------------------

export class Checksums {
  constructor(sums) { Object.assign(this, sums); }
  toJSON() { return { ...this }; }
  get [Symbol.toStringTag]() { return "Checksums"; }
}

// workerd's R2Bucket::HeadResult (typed as R2Object).
export class HeadResult {
  constructor(m) {
    this.key = m.key;
    this.version = m.version;
    this.size = m.size;
    this.etag = m.etag;
    this.httpEtag = m.httpEtag;
    this.uploaded = m.uploaded;
    this.httpMetadata = m.httpMetadata;
    this.customMetadata = m.customMetadata;
    this.range = m.range;
    this.checksums = new Checksums(m.checksums);
    this.storageClass = m.storageClass;
  }
  writeHttpMetadata(headers) {
    const h = this.httpMetadata ?? {};
    const names = {
      contentType: "content-type", contentLanguage: "content-language",
      contentDisposition: "content-disposition", contentEncoding: "content-encoding",
      cacheControl: "cache-control",
    };
    for (const [field, header] of Object.entries(names)) if (h[field] !== undefined) headers.set(header, h[field]);
    if (h.cacheExpiry !== undefined) headers.set("expires", new Date(h.cacheExpiry).toUTCString());
  }
  get [Symbol.toStringTag]() { return "HeadResult"; }
}

// workerd's R2Bucket::GetResult (typed as R2ObjectBody). `body` is the
// ReadableStream workerd streamed to Node; the read methods consume it.
export class GetResult extends HeadResult {
  #body;
  constructor(m, body) {
    super(m);
    this.#body = body;
  }
  get body() { return this.#body; }
  get bodyUsed() { return this.#body.locked || this.#body.disturbed === true; }
  #response() { return new Response(this.#body); }
  arrayBuffer() { return this.#response().arrayBuffer(); }
  bytes() { return this.#response().bytes(); }
  text() { return this.#response().text(); }
  json() { return this.#response().json(); }
  blob() { return this.#response().blob(); }
  get [Symbol.toStringTag]() { return "GetResult"; }
}

export class R2Bucket {
  #bridge;
  #binding;
  constructor(bridge, binding) {
    this.#bridge = bridge;
    this.#binding = binding;
  }
  async #r2(method, args) {
    // Trailing undefined arguments are dropped, as a JS call would leave them.
    while (args.length && args[args.length - 1] === undefined) args.pop();
    return await this.#bridge().r2(this.#binding, method, args);
  }
  async head(key) {
    const r = await this.#r2("head", [key]);
    return r === null ? null : new HeadResult(r.meta);
  }
  async get(key, options) {
    const r = await this.#r2("get", [key, options]);
    if (r === null) return null;
    return r.hasBody ? new GetResult(r.meta, r.body) : new HeadResult(r.meta);
  }
  async put(key, value, options) {
    const r = await this.#r2("put", [key, value, options]);
    return r === null ? null : new HeadResult(r.meta);
  }
  async delete(keys) {
    await this.#r2("delete", [keys]);
  }
  async list(options) {
    const r = await this.#r2("list", [options]);
    return {
      objects: r.objects.map((m) => new HeadResult(m)),
      truncated: r.truncated,
      ...(r.truncated ? { cursor: r.cursor } : {}),
      delimitedPrefixes: r.delimitedPrefixes,
    };
  }
  async createMultipartUpload(key, options) {
    const r = await this.#bridge().mpu(this.#binding, "create", key, null, options === undefined ? [] : [options]);
    return new R2MultipartUpload(this.#bridge, this.#binding, r.key, r.uploadId);
  }
  resumeMultipartUpload(key, uploadId) {
    return new R2MultipartUpload(this.#bridge, this.#binding, key, uploadId);
  }
  get [Symbol.toStringTag]() { return "R2Bucket"; }
}

// workerd's R2MultipartUpload: each call goes to Miniflare's bucket through the bridge.
export class R2MultipartUpload {
  #bridge;
  #binding;
  constructor(bridge, binding, key, uploadId) {
    this.#bridge = bridge;
    this.#binding = binding;
    this.key = key;
    this.uploadId = uploadId;
  }
  async uploadPart(partNumber, value) {
    return await this.#bridge().mpu(this.#binding, "uploadPart", this.key, this.uploadId, [partNumber, value]);
  }
  async complete(parts) {
    const r = await this.#bridge().mpu(this.#binding, "complete", this.key, this.uploadId, [parts]);
    return new HeadResult(r.meta);
  }
  async abort() {
    await this.#bridge().mpu(this.#binding, "abort", this.key, this.uploadId, []);
  }
  get [Symbol.toStringTag]() { return "R2MultipartUpload"; }
}

// workerd's WorkerQueue: a queue producer binding.
export class WorkerQueue {
  #bridge;
  #binding;
  constructor(bridge, binding) {
    this.#bridge = bridge;
    this.#binding = binding;
  }
  async send(body, options) {
    await this.#bridge().send(this.#binding, body, options);
  }
  async sendBatch(messages, options) {
    await this.#bridge().sendBatch(this.#binding, messages, options);
  }
  get [Symbol.toStringTag]() { return "WorkerQueue"; }
}
