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
//   - BEGIN/COMMIT/SAVEPOINT and `_cf_` names are refused, as on Cloudflare;
//   - the documented limits: 100 bound parameters, 100 KB of SQL, 2 MB per
//     string or BLOB value.
// Class names follow workerd's (jsg strips C++ namespaces: SqlStorage::Cursor
// is `Cursor` in JS), because the SDK dispatches on `constructor.name`.
//
// Approximations: `rowsRead` counts the rows returned (workerd counts rows
// scanned), a statement runs to completion at `exec` (workerd steps lazily),
// and a multi-statement `exec` is split on `;` outside quotes and comments
// (a CREATE TRIGGER with a BEGIN ... END body is not supported).

import { DatabaseSync } from "node:sqlite";

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

function checkStatement(sqlText) {
  const head = sqlText.replace(/--[^\n]*|\/\*[\s\S]*?\*\//g, " ").trim().toUpperCase();
  if (/^(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b/.test(head)) {
    throw new Error(TRANSACTION_MESSAGE);
  }
  // workerd's regulator refuses any table, index or trigger name starting with _cf_.
  if (/(^|[^A-Z0-9_])_CF_/i.test(sqlText.replace(/'[^']*'/g, "''"))) {
    throw new Error("not authorized: SQLITE_AUTH");
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
  constructor(db) { this.#db = db; }

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
      checkStatement(text);
      const last = i === statements.length - 1;
      cursor = this.#run(text, last ? values : []);
    });
    return cursor;
  }

  #run(text, values) {
    let stmt;
    try {
      stmt = this.#db.prepare(text);
      stmt.setReadBigInts(true);
      const columns = stmt.columns().map((c) => c.name);
      if (columns.length === 0) {
        const { changes } = stmt.run(...values);
        return new Cursor([], [], Number(changes));
      }
      stmt.setReturnArrays(true);
      const before = this.#db.prepare("SELECT total_changes() AS n").get().n;
      const rows = stmt.all(...values).map((r) => r.map(wrapValue));
      const after = this.#db.prepare("SELECT total_changes() AS n").get().n;
      return new Cursor(columns, rows, Number(after - before));
    } catch (err) {
      throw sqliteError(err);
    }
  }

  get databaseSize() {
    const { page_count: n } = this.#db.prepare("PRAGMA page_count").get();
    const { page_size: s } = this.#db.prepare("PRAGMA page_size").get();
    return Number(n) * Number(s);
  }

  get [Symbol.toStringTag]() { return "SqlStorage"; }
}

// workerd's DurableObjectStorage (SQLite-backed object): `ctx.storage`. Only
// the parts a SQL-only Durable Object uses.
export class DurableObjectStorage {
  #db;
  #sql;
  #depth = 0;

  constructor() {
    this.#db = new DatabaseSync(":memory:");
    this.#sql = new SqlStorage(this.#db);
  }

  get sql() { return this.#sql; }

  // Runs fn inside a transaction (a savepoint, so calls may nest): committed
  // when fn returns, rolled back when it throws. fn must be synchronous.
  transactionSync(fn) {
    const name = `harness_txn_${this.#depth++}`;
    this.#db.exec(`SAVEPOINT ${name}`);
    try {
      const result = fn();
      this.#db.exec(`RELEASE ${name}`);
      return result;
    } catch (err) {
      this.#db.exec(`ROLLBACK TO ${name}`);
      this.#db.exec(`RELEASE ${name}`);
      throw err;
    } finally {
      this.#depth--;
    }
  }

  async deleteAll() {
    const tables = this.#db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all();
    for (const { name } of tables) this.#db.exec(`DROP TABLE "${name.replaceAll('"', '""')}"`);
  }

  close() { this.#db.close(); }

  get [Symbol.toStringTag]() { return "DurableObjectStorage"; }
}
