// One Python Worker in its own Pyodide, as on Cloudflare (one isolate per
// Worker): loads Pyodide, installs the wheels, mounts the Worker's code,
// registers the SDK's internal modules, imports the entry module, and calls
// its handlers the way workerd's python-entrypoint-helper.ts does:
//   - a WorkerEntrypoint instance per event, constructed with (ctx, env);
//   - `fetch` and RPC methods through a python_from_rpc / python_to_rpc
//     wrapper (workerd's introspection.wrapper_func, see dispatch.py);
//   - `queue`, `scheduled` (and `alarm`) called directly, relaxed, with the
//     JS event object and `undefined` for env and ctx (what workerd passes
//     to a class-based handler), so they arrive as None.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadPyodide } from "./deps.mjs";
import { ExecutionContext, compatFlagsModule, entrypointHelperModule } from "./runtime_shims.mjs";
import { DurableObjectStorage } from "./sql_storage.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// Mount points inside Pyodide's file system. workerd puts the Worker's own
// modules in /session/metadata; vendored packages (what pywrangler puts in
// python_modules/, here the repo's shared/ and cloudflare_adapters/) go in a
// second directory on sys.path.
const SRC_MOUNT = "/session/metadata";
const VENDOR_DIR = "/session/python_modules";

export class PythonWorker {
  constructor({ name, repoRoot, srcDir, mainModule, vendorPackages, bundleDir, wheelDir, env, compatFlags, log, profileImports }) {
    Object.assign(this, {
      name, repoRoot, srcDir, mainModule, vendorPackages, bundleDir, wheelDir, env, compatFlags, log, profileImports,
    });
    this.timings = {};
    this.ready = this.#start();
  }

  async #start() {
    // Wall time, and the process's CPU time (user + system), which a busy
    // machine inflates less; Cloudflare's startup limit is CPU time.
    const now = () => {
      const { user, system } = process.cpuUsage();
      return { wall: performance.now(), cpu: (user + system) / 1000 };
    };
    const lap = (key, since) => {
      const end = now();
      this.timings[`${key}_ms`] = Math.round(end.wall - since.wall);
      this.timings[`${key}_cpu_ms`] = Math.round(end.cpu - since.cpu);
      return end;
    };
    const t = now();
    const py = await loadPyodide({
      stdout: (line) => this.log("stdout", line),
      stderr: (line) => this.log("stderr", line),
      // Nothing may come from a CDN: every package is installed from wheels below.
      packageBaseUrl: "file:///nonexistent/",
    });
    this.pyodide = py;
    let t1 = lap("loadPyodide", t);

    // The Worker's code is mounted from the host, not copied, so a test run
    // always sees the working tree.
    const { NODEFS } = py.FS.filesystems;
    if (this.bundleDir) {
      // The Worker's python_modules/ as `tts-pipeline vendor` built it (what
      // wrangler uploads): its packages, and their shared libraries loaded
      // the way unpackArchive("wheel") would.
      const root = path.resolve(this.repoRoot, this.bundleDir);
      py.FS.mkdirTree(VENDOR_DIR);
      py.FS.mount(NODEFS, { root }, VENDOR_DIR);
      for (const lib of fs.readdirSync(root, { recursive: true }).filter((f) => f.endsWith(".so")).sort()) {
        await py._api.loadDynlib(`${VENDOR_DIR}/${lib}`);
      }
    } else {
      for (const file of fs.readdirSync(this.wheelDir).filter((f) => f.endsWith(".whl")).sort()) {
        // unpackArchive wants a Uint8Array; a Node Buffer is not accepted.
        const bytes = new Uint8Array(fs.readFileSync(path.join(this.wheelDir, file)));
        py.unpackArchive(bytes, "wheel");
      }
    }
    t1 = lap("install_wheels", t1);

    py.FS.mkdirTree(SRC_MOUNT);
    py.FS.mount(NODEFS, { root: path.resolve(this.repoRoot, this.srcDir) }, SRC_MOUNT);
    for (const pkg of this.bundleDir ? [] : this.vendorPackages) {
      const target = `${VENDOR_DIR}/${path.basename(pkg)}`;
      py.FS.mkdirTree(target);
      py.FS.mount(NODEFS, { root: path.resolve(this.repoRoot, pkg) }, target);
    }
    py.registerJsModule("_cloudflare_compat_flags", compatFlagsModule(this.compatFlags));
    py.registerJsModule("_pyodide_entrypoint_helper", entrypointHelperModule(this.env));
    // Not a workerd module: lets test probes (run_python) build a Durable
    // Object's storage to drive an adapter without a Durable Object.
    py.registerJsModule("_pyodide_harness", {
      new_durable_object_storage: () => new DurableObjectStorage(),
      env: () => this.env,  // the Worker's bindings, for probes that drive an adapter directly
    });
    py.runPython(`
import sys
sys.path[:0] = [${JSON.stringify(SRC_MOUNT)}, ${JSON.stringify(VENDOR_DIR)}]
sys.dont_write_bytecode = True  # keep the host's source folders clean
`);
    if (this.profileImports) {
      // `python -X importtime` for what follows: the rows come back from a
      // run_python probe, `import _harness_importtime; _harness_importtime.report()`.
      const source = fs.readFileSync(path.join(HERE, "importtime.py"), "utf8");
      py.runPython(`import sys, types
_m = types.ModuleType("_harness_importtime")
exec(${JSON.stringify(source)}, _m.__dict__)
sys.modules["_harness_importtime"] = _m
del _m`);
    }
    // Timed one at a time so the cold-start report can tell them apart; in
    // production the entry import pays for all three.
    // `import pydantic` alone is lazy (its names load on first use), and the
    // first model class loads the rest (fields, schema generation, plugin
    // discovery): build a throwaway model so that this fixed cost of using
    // pydantic at all is counted here, not in the entry module.
    py.runPython(`import pydantic
class _HarnessWarmup(pydantic.BaseModel):
    x: int = pydantic.Field(default=0)
del _HarnessWarmup`);
    t1 = lap("import_pydantic", t1);
    py.runPython("import workers");
    t1 = lap("import_workers_sdk", t1);
    this.module = await py.pyimport("importlib").import_module.callPromising(this.mainModule);
    lap("import_entry", t1);
    // After the entry import, so that what the harness's own helpers import
    // (ast, inspect, json) is not missing from import_entry.
    const dispatch = py.globals.get("dict")();
    py.runPython(fs.readFileSync(path.join(HERE, "dispatch.py"), "utf8"), { globals: dispatch });
    this.callRpc = dispatch.get("call_rpc");
    this.runProbe = dispatch.get("run_probe");
    this.isRpcMethod = dispatch.get("is_rpc_method");
    lap("total", t);
    return this;
  }

  // Calls a Python callable the way workerd's doPyCallHelper does: with JSPI
  // ("promising"), so Python code may use pyodide.ffi.run_sync.
  async #call(fn, relaxed, args) {
    return await fn.callWithOptions({ relaxed, promising: true }, ...args);
  }

  async #entrypoint(className = "Default") {
    const cls = this.module[className];
    if (typeof cls !== "function") throw new TypeError(`${this.name}: no class ${className} in ${this.mainModule}`);
    const ctx = new ExecutionContext();
    return { ctx, instance: await this.#call(cls, false, [ctx, this.env]) };
  }

  // fetch(Request) -> Response, plus the errors of any waitUntil work.
  async fetch(request) {
    const { ctx, instance } = await this.#entrypoint();
    try {
      const response = await this.#call(this.callRpc, false, [true, instance, "fetch", request, undefined, undefined]);
      return { response, waitUntilErrors: await ctx.settle() };
    } finally {
      instance.destroy();
    }
  }

  // queue(batch) / scheduled(controller): handler errors are returned, not
  // thrown, since a failing batch is an outcome the tests look at.
  async event(handlerName, eventObject) {
    const { ctx, instance } = await this.#entrypoint();
    try {
      let error = null;
      const handler = instance[handlerName];
      try {
        await this.#call(handler, true, [eventObject, undefined, undefined]);
      } catch (err) {
        error = String(err?.message ?? err);
      } finally {
        handler?.destroy?.();
      }
      return { error, waitUntilErrors: await ctx.settle() };
    } finally {
      instance.destroy();
    }
  }

  async newDurableObject(className, state) {
    await this.ready;
    const cls = this.module[className];
    if (typeof cls !== "function") throw new TypeError(`${this.name}: no Durable Object class ${className}`);
    return await this.#call(cls, false, [state, this.env]);
  }

  // RPC method of a Durable Object (args already cloned by the stub).
  async callRpcMethod(instance, method, args) {
    if (!this.isRpcMethod(instance, method)) {
      throw new TypeError(`The RPC receiver does not implement the method "${method}".`);
    }
    return await this.#call(this.callRpc, false, [false, instance, method, ...args]);
  }

  async callFetch(instance, request) {
    return await this.#call(this.callRpc, false, [true, instance, "fetch", request]);
  }

  // The Wasm heap of this Worker's Pyodide: Cloudflare's 128 MB Worker
  // memory limit counts it.
  get wasmMemoryBytes() {
    return this.pyodide._module.HEAP8.length;
  }

  // Runs Python code in this Worker's interpreter; the value of the last
  // expression comes back as its repr(), or as JSON when it is JSON-able.
  async runPython(code) {
    return JSON.parse(await this.#call(this.runProbe, false, [code]));
  }
}
