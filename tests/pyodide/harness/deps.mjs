// The npm packages come from tools/node/node_modules (installed by
// tools/setup_pyodide_env.sh), not from a node_modules beside the tests.
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const NODE_MODULES = path.join(REPO_ROOT, "tools/node/node_modules");
const load = (rel) => import(pathToFileURL(path.join(NODE_MODULES, rel)).href);

export const { loadPyodide } = await load("pyodide/pyodide.mjs");
export const { Miniflare } = await load("miniflare/dist/src/index.js");
