// Stand-ins for a SQLite-backed Durable Object's `ctx.storage` and
// `ctx.storage.sql`, backed by Node 24's built-in `node:sqlite`.
//
// workerd provides these as C++ classes (src/workerd/api/sql.{h,c++} and
// actor-state.h). The Python side never sees our classes directly: the
// `workers` SDK wraps whatever `ctx.storage` is when its constructor is named
// `DurableObjectStorage`, and from then on every call goes through the SDK's
// `_BindingWrapper` (python_to_rpc on the arguments, python_from_rpc on the
// result), exactly as on Cloudflare. So what matters here is that the JS
// values going in and out are what workerd would accept and return:
//   - bindings: null/undefined -> NULL, ArrayBuffer or a view -> BLOB,
//     number/bigint -> REAL/INTEGER, anything else -> its string (Web IDL
//     union conversion: `true` is bound as the TEXT 'true', not 1);
//   - results: numbers (INTEGER becomes a double), strings, ArrayBuffer for
//     BLOBs, null;
//   - what workerd's SQLite authorizer refuses is refused here too, by the
//     same rules (a port of SqliteDatabase::isAuthorized in
//     src/workerd/util/sqlite.c++): BEGIN/COMMIT/SAVEPOINT, `_cf_` names,
//     PRAGMAs outside a short allowlist (no `user_version`, no
//     `journal_mode`), SQL functions outside an allowlist, TEMP objects,
//     ATTACH, virtual tables other than FTS5 and R*Tree;
//   - the documented limits: 100 bound parameters, 100 KB of SQL, 2 MB per
//     string or BLOB value. (SQLite's other lowered limits, such as 5
//     compound SELECTs or 50-byte LIKE patterns, are not applied.)
// Class names follow workerd's (jsg strips C++ namespaces: SqlStorage::Cursor
// is `Cursor` in JS), because the SDK dispatches on `constructor.name`.
//
// Approximations: `rowsRead` counts the rows returned (workerd counts rows
// scanned), a statement runs to completion at `exec` (workerd steps lazily),
// and a multi-statement `exec` is split on `;` outside quotes and comments
// (a CREATE TRIGGER with a BEGIN ... END body is not supported).

import { DatabaseSync, constants as C } from "node:sqlite";

const MAX_BINDINGS = 100;
const MAX_SQL_BYTES = 100_000;
const MAX_VALUE_BYTES = 2_000_000;

const SQLITE_CODE_NAMES = {
  1: "SQLITE_ERROR", 5: "SQLITE_BUSY", 6: "SQLITE_LOCKED", 18: "SQLITE_TOOBIG",
  19: "SQLITE_CONSTRAINT", 20: "SQLITE_MISMATCH", 25: "SQLITE_RANGE",
};

const TRANSACTION_MESSAGE =
  "To execute a transaction, please use the state.storage.transaction() or " +
  "state.storage.transactionSync() APIs instead of the SQL BEGIN TRANSACTION or SAVEPOINT " +
  "statements. The JavaScript API is safer because it will automatically roll back on " +
  "exceptions, and because it interacts correctly with Durable Objects' automatic atomic " +
  "write coalescing.";

// Split SQL text into statements on `;` that are outside strings, quoted
// identifiers and comments.
export function splitStatements(sql) {
  const out = [];
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"' || c === "`" || c === "[") {
      const close = c === "[" ? "]" : c;
      i = sql.indexOf(close, i + 1);
      if (i < 0) break;
    } else if (c === "-" && sql[i + 1] === "-") {
      i = sql.indexOf("\n", i);
      if (i < 0) break;
    } else if (c === "/" && sql[i + 1] === "*") {
      i = sql.indexOf("*/", i + 2);
      if (i < 0) break;
      i += 1;
    } else if (c === ";") {
      out.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  out.push(sql.slice(start));
  return out.filter((s) => s.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, "").trim() !== "");
}

// Web IDL conversion of one binding to workerd's
// Maybe<OneOf<Array<const byte>, String, double>>.
function convertBinding(value) {
  if (value === null || value === undefined) return null;
  if (value instanceof ArrayBuffer) return checkSize(new Uint8Array(value));
  if (ArrayBuffer.isView(value)) {
    return checkSize(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
  }
  if (typeof value === "number") return value;
  if (typeof value === "bigint") return Number(value);
  return checkSize(String(value));
}

function checkSize(v) {
  const size = typeof v === "string" ? Buffer.byteLength(v) : v.byteLength;
  if (size > MAX_VALUE_BYTES) {
    throw new Error("string or blob too big: SQLITE_TOOBIG");
  }
  return v;
}

function wrapValue(v) {
  if (typeof v === "bigint") return Number(v); // workerd returns every INTEGER as a double
  if (v instanceof Uint8Array) return v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength);
  return v;
}

// --- workerd's SQLite authorizer ------------------------------------------------

const ALLOWED_FUNCTIONS = new Set([
  "abs", "changes", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull",
  "iif", "instr", "last_insert_rowid", "length", "like", "likelihood", "likely", "load_extension",
  "lower", "ltrim", "max_scalar", "min_scalar", "nullif", "octet_length", "printf", "quote",
  "random", "randomblob", "replace", "round", "rtrim", "sign", "soundex", "substr", "substring",
  "total_changes", "trim", "typeof", "unhex", "unicode", "unlikely", "upper", "zeroblob", "date",
  "time", "datetime", "julianday", "unixepoch", "strftime", "timediff", "current_date",
  "current_time", "current_timestamp", "avg", "count", "group_concat", "max", "min", "string_agg",
  "sum", "total", "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag",
  "lead", "first_value", "last_value", "nth_value", "acos", "acosh", "asin", "asinh", "atan",
  "atan2", "atanh", "ceil", "cos", "cosh", "degrees", "exp", "floor", "ln", "log", "log2", "mod",
  "pi", "pow", "radians", "sin", "sinh", "sqrt", "tan", "tanh", "trunc", "json", "jsonb",
  "json_array", "jsonb_array", "json_array_length", "json_extract", "jsonb_extract", "->", "->>",
  "json_insert", "jsonb_insert", "json_object", "jsonb_object", "json_patch", "jsonb_patch",
  "json_remove", "jsonb_remove", "json_replace", "jsonb_replace", "json_set", "jsonb_set",
  "json_type", "json_valid", "json_quote", "json_group_array", "jsonb_group_array",
  "json_group_object", "jsonb_group_object", "json_each", "json_tree", "match", "highlight", "bm25",
  "snippet", "rtreecheck", "sqlite_rename_column", "sqlite_rename_table", "sqlite_rename_test",
  "sqlite_drop_column", "sqlite_rename_quotefix",
]);

// Pragma -> what its argument may be (workerd's PragmaSignature).
const ALLOWED_PRAGMAS = {
  data_version: "none", page_size: "none",
  case_sensitive_like: "boolean", foreign_keys: "boolean", defer_foreign_keys: "boolean",
  ignore_check_constraints: "boolean", legacy_alter_table: "boolean", recursive_triggers: "boolean",
  reverse_unordered_selects: "boolean",
  foreign_key_check: "optional_name", foreign_key_list: "name", index_info: "name",
  index_list: "name", index_xinfo: "name",
  quick_check: "null_number_or_name", optimize: "null_or_number",
};

const isAllowedName = (name) => name.length < 4 || name.slice(0, 4).toLowerCase() !== "_cf_";

function pragmaAllowed(pragma, arg) {
  if (pragma === "table_list") return true;
  if (pragma === "table_info" || pragma === "table_xinfo") return arg != null && isAllowedName(arg);
  switch (ALLOWED_PRAGMAS[pragma]) {
    case "none": return arg == null;
    case "boolean": {
      if (arg == null) return true;
      const v = /^(['"]).*\1$/.test(arg) ? arg.slice(1, -1) : arg;
      return /^(true|false|yes|no|on|off|1|0)/i.test(v);
    }
    case "name": return arg != null && isAllowedName(arg);
    case "optional_name": return arg == null || isAllowedName(arg);
    case "null_or_number": return arg == null || /^[+-]?\d+$/.test(arg);
    case "null_number_or_name": return arg == null || /^\d+$/.test(arg) || isAllowedName(arg);
    default: return false;
  }
}

// Returns true to allow. `onTransaction` is called for BEGIN/COMMIT/SAVEPOINT,
// which workerd refuses with its own message.
function isAuthorized(action, p1, p2, dbName, onTransaction) {
  if (action === C.SQLITE_ALTER_TABLE || action === C.SQLITE_DETACH) {
    // SQLite passes (database, table) here; workerd swaps them back.
    [p1, p2, dbName] = [p2, dbName, p1];
  }
  if (dbName === "temp") {
    return (action === C.SQLITE_READ || action === C.SQLITE_UPDATE) && isAllowedName(p1);
  }
  if (dbName != null && dbName !== "main") return false;
  switch (action) {
    case C.SQLITE_SELECT:
    case C.SQLITE_ANALYZE:
    case C.SQLITE_RECURSIVE:
      return true;
    case C.SQLITE_CREATE_TABLE: case C.SQLITE_DELETE: case C.SQLITE_DROP_TABLE:
    case C.SQLITE_INSERT: case C.SQLITE_CREATE_VIEW: case C.SQLITE_DROP_VIEW:
    case C.SQLITE_REINDEX: case C.SQLITE_READ: case C.SQLITE_UPDATE:
      return isAllowedName(p1);
    case C.SQLITE_ALTER_TABLE:
      return isAllowedName(p1) && (p2 == null || isAllowedName(p2));
    case C.SQLITE_CREATE_INDEX: case C.SQLITE_DROP_INDEX:
    case C.SQLITE_CREATE_TRIGGER: case C.SQLITE_DROP_TRIGGER:
      return isAllowedName(p1) && isAllowedName(p2);
    case C.SQLITE_TRANSACTION:
    case C.SQLITE_SAVEPOINT:
      onTransaction();
      return false;
    case C.SQLITE_PRAGMA:
      return pragmaAllowed(p1, p2);
    case C.SQLITE_FUNCTION:
      return ALLOWED_FUNCTIONS.has(p2);
    case C.SQLITE_CREATE_VTABLE:
    case C.SQLITE_DROP_VTABLE:
      return ["fts5", "fts5vocab", "rtree", "rtree_i32"].includes(String(p2).toLowerCase()) && isAllowedName(p1);
    default: // ATTACH, DETACH, TEMP objects, COPY, anything unknown
      return false;
  }
}

function sqliteError(err) {
  if (err?.code !== "ERR_SQLITE_ERROR") return err;
  const name = SQLITE_CODE_NAMES[err.errcode & 0xff] ?? `SQLITE_ERROR_${err.errcode}`;
  return new Error(`${err.message}: ${name}`);
}

// workerd's SqlStorage::Cursor (JS name `Cursor`, typed as SqlStorageCursor).
export class Cursor {
  #rows;
  #columns;
  #pos = 0;
  #rowsRead;
  #rowsWritten;

  constructor(columns, rows, rowsWritten) {
    this.#columns = columns;
    this.#rows = rows; // arrays of values, in column order
    this.#rowsRead = rows.length;
    this.#rowsWritten = rowsWritten;
  }

  #object(row) {
    const o = {};
    this.#columns.forEach((c, i) => { o[c] = row[i]; });
    return o;
  }

  next() {
    if (this.#pos >= this.#rows.length) return { done: true, value: undefined };
    return { done: false, value: this.#object(this.#rows[this.#pos++]) };
  }

  toArray() {
    const out = [];
    for (let r = this.next(); !r.done; r = this.next()) out.push(r.value);
    return out;
  }

  one() {
    const remaining = this.#rows.length - this.#pos;
    if (remaining === 0) {
      throw new Error("Expected exactly one result from SQL query, but got no results.");
    }
    if (remaining > 1) {
      this.#pos = this.#rows.length;
      throw new Error("Expected exactly one result from SQL query, but got multiple results.");
    }
    return this.next().value;
  }

  *raw() {
    while (this.#pos < this.#rows.length) yield [...this.#rows[this.#pos++]];
  }

  [Symbol.iterator]() {
    return { next: () => this.next(), [Symbol.iterator]() { return this; } };
  }

  get columnNames() { return [...this.#columns]; }
  get rowsRead() { return this.#rowsRead; }
  get rowsWritten() { return this.#rowsWritten; }
  get [Symbol.toStringTag]() { return "Cursor"; }
}

// workerd's SqlStorage: `ctx.storage.sql`.
export class SqlStorage {
  #db;
  #trusted;
  #refusal = null; // workerd's message for a refused transaction statement

  // `trusted.run(fn)` runs the harness's own statements (savepoints, size
  // queries) past the authorizer, as workerd's internal queries are.
  constructor(db, trusted) {
    this.#db = db;
    this.#trusted = trusted;
    db.setAuthorizer((action, p1, p2, dbName) => {
      if (trusted.active) return C.SQLITE_OK;
      const ok = isAuthorized(action, p1, p2, dbName, () => { this.#refusal = TRANSACTION_MESSAGE; });
      return ok ? C.SQLITE_OK : C.SQLITE_DENY;
    });
  }

  exec(query, ...bindings) {
    query = String(query);
    if (Buffer.byteLength(query) > MAX_SQL_BYTES) {
      throw new Error("statement too long: SQLITE_TOOBIG");
    }
    if (bindings.length > MAX_BINDINGS) {
      throw new Error("too many SQL variables: SQLITE_ERROR");
    }
    const values = bindings.map(convertBinding);
    const statements = splitStatements(query);
    if (statements.length === 0) return new Cursor([], [], 0);
    let cursor;
    statements.forEach((text, i) => {
      const last = i === statements.length - 1;
      cursor = this.#run(text, last ? values : []);
    });
    return cursor;
  }

  #run(text, values) {
    try {
      const stmt = this.#db.prepare(text);
      stmt.setReadBigInts(true);
      const columns = stmt.columns().map((c) => c.name);
      if (columns.length === 0) {
        const { changes } = stmt.run(...values);
        return new Cursor([], [], Number(changes));
      }
      stmt.setReturnArrays(true);
      const changes = () => this.#trusted.run(() => this.#db.prepare("SELECT total_changes() AS n").get().n);
      const before = changes();
      const rows = stmt.all(...values).map((r) => r.map(wrapValue));
      const after = changes();
      return new Cursor(columns, rows, Number(after - before));
    } catch (err) {
      const refusal = this.#refusal;
      this.#refusal = null;
      throw refusal ? new Error(refusal) : sqliteError(err);
    }
  }

  get databaseSize() {
    return this.#trusted.run(() => {
      const { page_count: n } = this.#db.prepare("PRAGMA page_count").get();
      const { page_size: s } = this.#db.prepare("PRAGMA page_size").get();
      return Number(n) * Number(s);
    });
  }

  get [Symbol.toStringTag]() { return "SqlStorage"; }
}

// workerd's DurableObjectStorage (SQLite-backed object): `ctx.storage`. Only
// the parts a SQL-only Durable Object uses.
export class DurableObjectStorage {
  #db;
  #sql;
  #depth = 0;

  #trusted = {
    active: false,
    run(fn) {
      this.active = true;
      try { return fn(); } finally { this.active = false; }
    },
  };

  constructor() {
    this.#db = new DatabaseSync(":memory:");
    this.#db.enableDefensive(true); // as workerd: SQLITE_DBCONFIG_DEFENSIVE
    this.#sql = new SqlStorage(this.#db, this.#trusted);
  }

  #internal(sql) { this.#trusted.run(() => this.#db.exec(sql)); }

  get sql() { return this.#sql; }

  // The object's one alarm, as workerd keeps it (ms since the epoch, or null); the harness
  // does not ring it: a test that needs the alarm calls the object's alarm() itself.
  #alarm = null;
  async setAlarm(scheduledTime) {
    const ms = scheduledTime instanceof Date ? scheduledTime.getTime() : Number(scheduledTime);
    if (!Number.isFinite(ms)) throw new TypeError("setAlarm() expects a Date or a number of milliseconds");
    this.#alarm = ms;
  }
  async getAlarm() { return this.#alarm; }
  async deleteAlarm() { this.#alarm = null; }

  // Runs fn inside a transaction (a savepoint, so calls may nest): committed
  // when fn returns, rolled back when it throws. fn must be synchronous.
  transactionSync(fn) {
    const name = `harness_txn_${this.#depth++}`;
    this.#internal(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      this.#internal(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.#internal(`ROLLBACK TO ${name}`);
      this.#internal(`RELEASE ${name}`);
      throw err;
    } finally {
      this.#depth--;
    }
  }

  async deleteAll() {
    this.#trusted.run(() => {
      const tables = this.#db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .all();
      for (const { name } of tables) this.#db.exec(`DROP TABLE "${name.replaceAll('"', '""')}"`);
    });
  }

  close() { this.#db.close(); }

  get [Symbol.toStringTag]() { return "DurableObjectStorage"; }
}
