// What workerd gives a Python Worker besides its bindings: the event objects
// its handlers receive, and the two internal modules the `workers` SDK
// (PyPI workers-runtime-sdk) imports. Each class carries workerd's JS class
// name (jsg strips C++ namespaces), since the SDK dispatches on
// `constructor.name` and workerd's patchWaitUntil on the toString tag.

// workerd's ExecutionContext (`self.ctx` of a WorkerEntrypoint). The harness
// awaits everything passed to waitUntil before it reports an event finished,
// so tests see the background work's effects deterministically.
export class ExecutionContext {
  #pending = [];
  waitUntil(promise) {
    this.#pending.push(Promise.resolve(promise));
  }
  passThroughOnException() {}
  get props() { return {}; }
  async settle() {
    const results = await Promise.allSettled(this.#pending);
    return results.filter((r) => r.status === "rejected").map((r) => String(r.reason?.message ?? r.reason));
  }
  get [Symbol.toStringTag]() { return "ExecutionContext"; }
}

// workerd's ScheduledController: the argument of `scheduled(controller)`.
export class ScheduledController {
  #noRetry = false;
  constructor(scheduledTime, cron) {
    this.scheduledTime = scheduledTime;
    this.cron = cron;
  }
  noRetry() { this.#noRetry = true; }
  get noRetryCalled() { return this.#noRetry; }
  get [Symbol.toStringTag]() { return "ScheduledController"; }
}

// workerd's QueueMessage (typed as Message) and QueueController (typed as
// MessageBatch). Every ack/retry call is recorded in order, so the harness
// can replay the same calls on Miniflare's real batch and let Miniflare's
// queue broker apply Cloudflare's rules (explicit ack/retry beat
// ackAll/retryAll; a handler that throws retries every message not acked).
export class QueueMessage {
  #calls;
  constructor(calls, { id, timestamp, body, attempts }) {
    this.#calls = calls;
    this.id = id;
    this.timestamp = new Date(timestamp);
    this.body = body;
    this.attempts = attempts;
  }
  ack() { this.#calls.push({ call: "ack", id: this.id }); }
  retry(options) { this.#calls.push({ call: "retry", id: this.id, options: plainOptions(options) }); }
  get [Symbol.toStringTag]() { return "QueueMessage"; }
}

export class QueueController {
  constructor(queue, messages) {
    this.calls = [];
    this.queue = queue;
    this.messages = messages.map((m) => new QueueMessage(this.calls, m));
    this.metadata = { metrics: { backlogCount: 0, backlogBytes: 0, oldestMessageTimestamp: new Date(0) } };
  }
  ackAll() { this.calls.push({ call: "ackAll" }); }
  retryAll(options) { this.calls.push({ call: "retryAll", options: plainOptions(options) }); }
  get [Symbol.toStringTag]() { return "QueueController"; }
}

// A retry option object as the runtime would read it: only delaySeconds.
function plainOptions(options) {
  if (options === undefined || options === null) return undefined;
  const delaySeconds = options.delaySeconds;
  if (delaySeconds !== undefined && typeof delaySeconds !== "number") {
    throw new TypeError(`delaySeconds must be a number, got ${typeof delaySeconds}`);
  }
  return delaySeconds === undefined ? {} : { delaySeconds };
}

// --- the SDK's internal modules ----------------------------------------------

// `_cloudflare_compat_flags`: workerd registers its compatibility flags as a
// JS module of booleans. The SDK reads the two below; absent ones are false.
export function compatFlagsModule(flags = {}) {
  return {
    python_workflows_implicit_dependencies: false,
    python_request_headers_preserve_commas: false,
    ...flags,
  };
}

// `_pyodide_entrypoint_helper`: workerd's python-entrypoint-helper.ts builds
// this object and registers it as a JS module. What each member replaces:
//  - cloudflareWorkersModule: the `cloudflare:workers` module. The SDK reads
//    `env` (for `from workers import env`) and `waitUntil` from it.
//  - cloudflareSocketsModule: `cloudflare:sockets`; no sockets here, `connect`
//    throws.
//  - doAnImport(name): workerd's dynamic `import()` of a JS module from the
//    Worker bundle; the SDK uses it for `python_modules/workers/*.js`
//    (Workflows only), which this harness does not provide.
//  - patchWaitUntil(ctx): workerd wraps ctx.waitUntil so that it accepts a
//    Python awaitable (it copies the PyProxy so that it outlives the call);
//    same here, for ExecutionContext objects only.
//  - patch_env_helper(patch): a generator that keeps `env` patched while a
//    `with workers.patch_env(...)` block runs (workerd: pythonPatchEnv).
const waitUntilPatched = new WeakSet();

export function entrypointHelperModule(env) {
  const cloudflareWorkersModule = {
    env,
    waitUntil() {
      throw new Error("harness: the module-level waitUntil is not supported; use self.ctx.waitUntil");
    },
  };
  return {
    cloudflareWorkersModule,
    cloudflareSocketsModule: {
      connect() { throw new Error("harness: cloudflare:sockets is not available in tests"); },
    },
    async doAnImport(name) {
      throw new Error(`harness: cannot import JS module ${JSON.stringify(name)}`);
    },
    patchWaitUntil(ctx) {
      if (Object.prototype.toString.call(ctx) !== "[object ExecutionContext]" || waitUntilPatched.has(ctx)) return;
      const original = ctx.waitUntil.bind(ctx);
      ctx.waitUntil = (p) => {
        original((async () => {
          if (p && typeof p.copy === "function") p = p.copy();
          await p;
          if (p && typeof p.destroy === "function") p.destroy();
        })());
      };
      waitUntilPatched.add(ctx);
    },
    *patch_env_helper(patch) {
      const saved = new Map();
      const entries = patch instanceof Map ? [...patch.entries()] : Object.entries(patch);
      for (const [key, value] of entries) {
        saved.set(key, Object.getOwnPropertyDescriptor(env, key));
        env[key] = value;
      }
      try {
        yield;
      } finally {
        for (const [key, descriptor] of saved) {
          if (descriptor) Object.defineProperty(env, key, descriptor);
          else delete env[key];
        }
      }
    },
  };
}
