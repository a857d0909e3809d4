/**
 * The store on PostgreSQL. Layout, all in one schema (`micro_store` by default):
 *   catalog(database, "table", name)   which SQL table holds which Micro database/table
 *   versions                           a sequence: every write takes the next value as its version
 *   "<database>_<table>_<hash>"        one table per Micro database/table, created on first write:
 *                                      its name is the two names reduced to [a-z0-9_], cut to fit
 *                                      PostgreSQL's 63 bytes, plus 8 hex of their SHA-1 (no clashes)
 * Each record table: key text COLLATE "C" primary key (byte order, like the other stores),
 * value bytea, json boolean (true: value is JSON text; false: raw bytes), metadata jsonb,
 * expires_at timestamptz (NULL: never), version bigint. Expiry uses the server's clock;
 * expired rows are invisible at once and deleted lazily when their table is listed.
 */
import { createHash } from "node:crypto";
import { errors, STORE_DEFAULTS, type ListOptions, type ReadOptions, type Scope, type Store, type StoreOptions, type StoreRecord, type WriteOptions } from "@micro-ts/micro";
import { Connection, escapeLike, ident, type PostgresConnectOptions } from "./connection.js";
import { checkCount, checkKey, checkName, checkTTL, decodeValue, encodeValue, metadataJSON, STORE_ERROR_ID } from "./values.js";

export interface PostgresStoreOptions extends StoreOptions, PostgresConnectOptions {
  /** The schema holding the catalog and the record tables. @default "micro_store" */
  schema?: string;
}

const LIVE = "(expires_at IS NULL OR expires_at > clock_timestamp())";
const TTL = "CASE WHEN expires_at IS NULL THEN NULL ELSE ceil(extract(epoch FROM expires_at - clock_timestamp()) * 1000) END";
const COLUMNS = "key, value, json, metadata, version::text AS version, " + TTL + " AS ttl";
const SET_EXPIRY = "CASE WHEN $5::bigint > 0 THEN clock_timestamp() + $5::bigint * interval '1 millisecond' END";
/** How often a table's expired rows are swept, at most, in ms. */
const SWEEP_EVERY = 1000;

interface Row {
  key: string;
  value: Buffer;
  json: boolean;
  metadata: Record<string, unknown> | null;
  version: string;
  ttl: string | null;
}

/** The SQL table name for a Micro database/table: readable, at most 63 bytes, unique by hash. */
export function tableName(database: string, table: string): string {
  const clean = (s: string) => s.toLowerCase().replace(/[^a-z0-9_]+/g, "_");
  const hash = createHash("sha1").update(database).update("\0").update(table).digest("hex").slice(0, 8);
  return `${clean(database).slice(0, 24)}_${clean(table).slice(0, 28)}_${hash}`;
}

const isUndefinedTable = (e: unknown) => (e as { cause?: { code?: string } })?.cause?.code === "42P01";

export class PostgresStore implements Store {
  private readonly conn: Connection;
  private readonly database: string;
  private readonly table: string;
  private readonly maxValueSize: number;
  private readonly schema: string;
  private setup: Promise<void> | undefined;
  private readonly created = new Map<string, Promise<void>>();
  private readonly swept = new Map<string, number>();

  constructor(opts: PostgresStoreOptions = {}) {
    const o = { ...STORE_DEFAULTS, ...opts };
    this.database = checkName("database", o.database);
    this.table = checkName("table", o.table);
    this.maxValueSize = o.maxValueSize;
    this.schema = checkName("schema", opts.schema ?? "micro_store");
    this.conn = new Connection(opts, STORE_ERROR_ID);
  }

  private scope(s: Scope | undefined) {
    const db = checkName("database", s?.database ?? this.database);
    const table = checkName("table", s?.table ?? this.table);
    return { db, table, sql: `${ident(this.schema)}.${ident(tableName(db, table))}` };
  }

  private get catalog() {
    return `${ident(this.schema)}.catalog`;
  }

  /** Creates the schema, catalog and version sequence once per instance. */
  private ready(): Promise<void> {
    if (!this.setup) {
      const s = ident(this.schema);
      const p = this.conn.tx(async (c) => {
        await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`micro-store:${this.schema}`]);
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.catalog} (database text NOT NULL, "table" text NOT NULL, name text NOT NULL UNIQUE, PRIMARY KEY (database, "table"))`);
        await c.query(`CREATE SEQUENCE IF NOT EXISTS ${s}.versions`);
      });
      this.setup = p;
      p.catch(() => {
        if (this.setup === p) this.setup = undefined;
      });
    }
    return this.setup;
  }

  /** Creates the record table for a scope on first use (by any instance: guarded by an advisory lock). */
  private ensure(sc: ReturnType<PostgresStore["scope"]>): Promise<void> {
    let p = this.created.get(sc.sql);
    if (!p) {
      p = this.ready().then(() =>
        this.conn.tx(async (c) => {
          const name = tableName(sc.db, sc.table);
          await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`micro-store:${this.schema}.${name}`]);
          await c.query(
            `CREATE TABLE IF NOT EXISTS ${sc.sql} (key text COLLATE "C" PRIMARY KEY, value bytea NOT NULL, json boolean NOT NULL, metadata jsonb, expires_at timestamptz, version bigint NOT NULL)`,
          );
          await c.query(`CREATE INDEX IF NOT EXISTS ${ident(`${name}_exp`)} ON ${sc.sql} (expires_at) WHERE expires_at IS NOT NULL`);
          await c.query(`INSERT INTO ${this.catalog} (database, "table", name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [sc.db, sc.table, name]);
        }),
      );
      this.created.set(sc.sql, p);
      p.catch(() => this.created.delete(sc.sql));
    }
    return p;
  }

  /** Runs a query on a table that may not exist yet: a missing table reads as empty. */
  private async onTable<T>(q: () => Promise<T>, empty: T): Promise<T> {
    try {
      return await q();
    } catch (e) {
      if (isUndefinedTable(e)) return empty;
      throw e;
    }
  }

  private toRecord(r: Row): StoreRecord {
    const rec: StoreRecord = { key: r.key, value: decodeValue(r.value, r.json), version: r.version };
    if (r.metadata !== null) rec.metadata = r.metadata;
    if (r.ttl !== null) rec.expiry = Math.max(1, Number(r.ttl));
    return rec;
  }

  async read(key: string, o: ReadOptions = {}): Promise<StoreRecord[]> {
    const many = !!(o.prefix || o.suffix);
    checkKey(key, many);
    const sc = this.scope(o);
    if (!many) {
      if (this.conn.isClosed) throw errors.serviceUnavailable(STORE_ERROR_ID, "closed");
      const res = await this.onTable(() => this.conn.query<Row>(`SELECT ${COLUMNS} FROM ${sc.sql} WHERE key = $1 AND ${LIVE}`, [key]), undefined);
      const row = res?.rows[0];
      if (!row) throw errors.notFound(STORE_ERROR_ID, `${key} not found`);
      return [this.toRecord(row)];
    }
    const rows = await this.select(sc, COLUMNS, o.prefix ? key : "", o.suffix ? key : "", o.offset, o.limit);
    return rows.map((r) => this.toRecord(r as Row));
  }

  private async select(sc: ReturnType<PostgresStore["scope"]>, columns: string, prefix: string, suffix: string, offset?: number, limit?: number) {
    const off = checkCount("offset", offset) ?? 0;
    const lim = checkCount("limit", limit) || null;
    this.sweep(sc);
    const where = [LIVE];
    const args: unknown[] = [];
    if (prefix) {
      args.push(`${escapeLike(prefix)}%`);
      where.push(`key LIKE $${args.length}`);
    }
    if (suffix) {
      args.push(`%${escapeLike(suffix)}`);
      where.push(`key LIKE $${args.length}`);
    }
    args.push(lim, off);
    const sql = `SELECT ${columns} FROM ${sc.sql} WHERE ${where.join(" AND ")} ORDER BY key LIMIT $${args.length - 1} OFFSET $${args.length}`;
    const res = await this.onTable(() => this.conn.query(sql, args), undefined);
    return res?.rows ?? [];
  }

  /** Deletes a table's expired rows, at most once a second per table, without waiting. */
  private sweep(sc: ReturnType<PostgresStore["scope"]>): void {
    const now = Date.now();
    if ((this.swept.get(sc.sql) ?? 0) + SWEEP_EVERY > now) return;
    this.swept.set(sc.sql, now);
    this.conn.query(`DELETE FROM ${sc.sql} WHERE expires_at <= clock_timestamp()`).catch(() => undefined);
  }

  async write(rec: StoreRecord, o: WriteOptions = {}): Promise<void> {
    if (typeof rec !== "object" || rec === null) throw errors.badRequest(STORE_ERROR_ID, "record must be an object");
    const key = checkKey(rec.key);
    const enc = encodeValue(rec.value, this.maxValueSize);
    const meta = metadataJSON(rec.metadata) || null;
    const ttl = checkTTL(rec.expiry);
    const sc = this.scope(o);
    if (this.conn.isClosed) throw errors.serviceUnavailable(STORE_ERROR_ID, "closed");
    const args = [key, Buffer.from(enc.bytes.buffer, enc.bytes.byteOffset, enc.bytes.byteLength), enc.json, meta, ttl];
    const seq = `nextval('${ident(this.schema).replace(/'/g, "''")}.versions')`;
    let res;
    if (o.ifVersion !== undefined) {
      if (typeof o.ifVersion !== "string" || !/^[0-9]{1,18}$/.test(o.ifVersion)) {
        throw errors.conflict(STORE_ERROR_ID, `${key}: version ${String(o.ifVersion)} does not match`);
      }
      res = await this.onTable(
        () =>
          this.conn.query(
            `UPDATE ${sc.sql} SET value = $2, json = $3, metadata = $4::jsonb, expires_at = ${SET_EXPIRY}, version = ${seq} WHERE key = $1 AND version = $6::bigint AND ${LIVE} RETURNING version`,
            [...args, o.ifVersion],
          ),
        undefined,
      );
    } else {
      await this.ensure(sc);
      const onConflict = o.ifNotExists ? `WHERE ${sc.sql}.expires_at IS NOT NULL AND ${sc.sql}.expires_at <= clock_timestamp()` : "";
      res = await this.conn.query(
        `INSERT INTO ${sc.sql} AS t (key, value, json, metadata, expires_at, version) VALUES ($1, $2, $3, $4::jsonb, ${SET_EXPIRY}, ${seq})
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, json = excluded.json, metadata = excluded.metadata, expires_at = excluded.expires_at, version = excluded.version
         ${onConflict.replaceAll(sc.sql, "t")} RETURNING version`,
        args,
      );
    }
    if (!res || res.rowCount === 0) throw errors.conflict(STORE_ERROR_ID, `${key}: condition failed`);
  }

  async delete(key: string, o: Scope = {}): Promise<void> {
    checkKey(key);
    const sc = this.scope(o);
    if (this.conn.isClosed) throw errors.serviceUnavailable(STORE_ERROR_ID, "closed");
    await this.onTable(() => this.conn.query(`DELETE FROM ${sc.sql} WHERE key = $1`, [key]), undefined);
  }

  async list(o: ListOptions = {}): Promise<string[]> {
    const sc = this.scope(o);
    if (this.conn.isClosed) throw errors.serviceUnavailable(STORE_ERROR_ID, "closed");
    const rows = await this.select(sc, "key", o.prefix ?? "", o.suffix ?? "", o.offset, o.limit);
    return rows.map((r) => (r as { key: string }).key);
  }

  /** Catalog entries (of one database) whose table holds a live record. */
  private async live(database?: string): Promise<{ database: string; table: string }[]> {
    if (this.conn.isClosed) throw errors.serviceUnavailable(STORE_ERROR_ID, "closed");
    const res = await this.onTable(
      () =>
        this.conn.query<{ database: string; table: string; name: string }>(
          `SELECT database, "table", name FROM ${this.catalog}${database === undefined ? "" : " WHERE database = $1"}`,
          database === undefined ? [] : [database],
        ),
      undefined,
    );
    const out: { database: string; table: string }[] = [];
    for (const r of res?.rows ?? []) {
      const t = `${ident(this.schema)}.${ident(r.name)}`;
      const has = await this.onTable(() => this.conn.query(`SELECT 1 FROM ${t} WHERE ${LIVE} LIMIT 1`), undefined);
      if (has && has.rowCount) out.push({ database: r.database, table: r.table });
    }
    return out;
  }

  async databases(): Promise<string[]> {
    return [...new Set((await this.live()).map((r) => r.database))].sort();
  }

  async tables(database: string): Promise<string[]> {
    checkName("database", database);
    return (await this.live(database)).map((r) => r.table).sort();
  }

  async close(): Promise<void> {
    await this.conn.close();
  }
}

/** A Store on PostgreSQL (see PostgresStore for the layout). */
export function postgresStore(opts: PostgresStoreOptions = {}): PostgresStore {
  return new PostgresStore(opts);
}
