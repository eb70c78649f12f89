// Stand-ins for the Durable Object namespace binding, ids, stubs and state.
//
// On Cloudflare a Python Durable Object runs in its Worker's isolate and is
// reached over RPC: the caller's arguments are serialized (structured clone),
// the runtime calls the Python method through the SDK's python_from_rpc /
// python_to_rpc, and the result is serialized back. Miniflare could host the
// object, but not its Python, so the object lives in the hosting Worker's
// Pyodide (a PythonWorker, see python_worker.mjs) and the stub below does the
// serialization with Node's structuredClone (the same V8 serializer workerd
// uses). Class names are workerd's, because the SDK checks `constructor.name`
// (`DurableObjectNamespace` for env bindings, `DurableObjectStorage` for
// ctx.storage); workerd names the stub class `DurableObject`.

import { createHash, randomBytes } from "node:crypto";
import { DurableObjectStorage } from "./sql_storage.mjs";

export class DurableObjectId {
  #hex;
  #name;
  constructor(hex, name) {
    this.#hex = hex;
    this.#name = name;
  }
  toString() { return this.#hex; }
  equals(other) { return other instanceof DurableObjectId && other.toString() === this.#hex; }
  get name() { return this.#name; }
  get jurisdiction() { return undefined; }
  get [Symbol.toStringTag]() { return "DurableObjectId"; }
}

// workerd's DurableObjectState: `ctx` in the Durable Object's constructor.
export class DurableObjectState {
  #waitUntil = [];
  constructor(id, storage) {
    this.id = id;
    this.storage = storage;
  }
  waitUntil(promise) { this.#waitUntil.push(Promise.resolve(promise)); }
  async blockConcurrencyWhile(fn) { return await fn(); }
  abort(reason) { throw new Error(`Durable Object aborted: ${reason ?? ""}`); }
  get [Symbol.toStringTag]() { return "DurableObjectState"; }
}

// An RPC call crosses an isolate boundary: values are structured-cloned both
// ways, and errors arrive as cloned Error objects (V8 keeps the name only for
// the standard error types, so a Python exception's PythonError becomes Error).
function cloneAcrossRpc(value) {
  return structuredClone(value);
}

async function rpcCall(invoke) {
  try {
    return cloneAcrossRpc(await invoke());
  } catch (err) {
    throw err instanceof Error ? cloneAcrossRpc(err) : err;
  }
}

// workerd's Durable Object stub (JS class `DurableObject`): `fetch`, `id`,
// `name`, and every other property name is an RPC method, except `then`
// (so that a stub is not mistaken for a promise).
export class DurableObject {
  #namespace;
  constructor(namespace, id) {
    this.#namespace = namespace;
    this.id = id;
    this.name = id.name;
    return new Proxy(this, {
      get(target, prop, receiver) {
        if (typeof prop !== "string" || prop in target || prop === "then") {
          return Reflect.get(target, prop, receiver);
        }
        return (...args) => {
          const cloned = cloneAcrossRpc(args);
          return rpcCall(() => namespace.invoke(id, prop, cloned));
        };
      },
    });
  }
  async fetch(input, init) {
    const request = new Request(input, init);
    return await this.#namespace.invokeFetch(this.id, request);
  }
  get [Symbol.toStringTag]() { return "DurableObject"; }
}

// workerd's DurableObjectNamespace: the `env.JOBS` binding. `resolveHost()`
// returns the PythonWorker that defines the class (started on first use).
export class DurableObjectNamespace {
  #className;
  #resolveHost;
  #instances;

  // instances: a Map shared by every binding to the same class, so that two
  // Workers bound to one class reach the same objects.
  constructor(className, resolveHost, instances) {
    this.#className = className;
    this.#resolveHost = resolveHost;
    this.#instances = instances;
  }

  idFromName(name) {
    const hex = createHash("sha256").update(`${this.#className}\0${name}`).digest("hex");
    return new DurableObjectId(hex, String(name));
  }
  idFromString(hex) {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError("Invalid Durable Object ID: must be 64 hex digits");
    return new DurableObjectId(hex, undefined);
  }
  newUniqueId() { return new DurableObjectId(randomBytes(32).toString("hex"), undefined); }
  get(id) {
    if (!(id instanceof DurableObjectId)) throw new TypeError("get() expects a DurableObjectId");
    return new DurableObject(this, id);
  }
  getByName(name) { return this.get(this.idFromName(name)); }
  jurisdiction() { return this; }

  // One instance per id, created on first call, as on Cloudflare.
  async #instance(id) {
    const key = id.toString();
    let entry = this.#instances.get(key);
    if (!entry) {
      const state = new DurableObjectState(id, new DurableObjectStorage());
      entry = { state, instance: this.#resolveHost().then((host) => host.newDurableObject(this.#className, state)) };
      this.#instances.set(key, entry);
      // A constructor that throws leaves no object behind: the next call retries.
      entry.instance.catch(() => this.#instances.get(key) === entry && this.#instances.delete(key));
    }
    return { host: await this.#resolveHost(), state: entry.state, instance: await entry.instance };
  }

  // The object's state (its storage), creating the object if need be; for
  // tests that inspect storage directly.
  async stateOf(id) {
    return await this.#instance(id);
  }

  async invoke(id, method, args) {
    const { host, instance } = await this.#instance(id);
    return await host.callRpcMethod(instance, method, args);
  }

  async invokeFetch(id, request) {
    const { host, instance } = await this.#instance(id);
    return await host.callFetch(instance, request);
  }

  get [Symbol.toStringTag]() { return "DurableObjectNamespace"; }
}
