// memoryStore: records in a Map, for tests and single-process use. Nothing survives the process.
import { randomUUID } from "node:crypto";
import { serviceUnavailable } from "../errors/errors.js";
import { checkCount, checkKey, checkName, copyMetadata, encodeValue, expiresAt } from "./codec.js";
import {
  STORE_DEFAULTS,
  STORE_ERROR_ID,
  type DeleteOptions,
  type ListOptions,
  type ReadOptions,
  type Scope,
  type Store,
  type StoreOptions,
  type StoreRecord,
  type WriteOptions,
} from "./store.js";
import { RecordIndex } from "./table.js";

export type MemoryStoreOptions = StoreOptions;

/** Resolved options shared by the core stores. */
export interface ResolvedStoreOptions {
  database: string;
  table: string;
  maxValueSize: number;
}

export function resolveStoreOptions(opts: StoreOptions): ResolvedStoreOptions {
  const o = { ...STORE_DEFAULTS, ...stripUndefined(opts) };
  checkName("database", o.database);
  checkName("table", o.table);
  if (!Number.isInteger(o.maxValueSize) || o.maxValueSize <= 0) {
    throw new TypeError("maxValueSize must be a positive integer");
  }
  return Object.freeze({ database: o.database, table: o.table, maxValueSize: o.maxValueSize });
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Scope of a call: the call's options over the store's defaults, validated. */
export function scopeOf(def: ResolvedStoreOptions, o: Scope | undefined): { db: string; table: string } {
  return {
    db: o?.database === undefined ? def.database : checkName("database", o.database),
    table: o?.table === undefined ? def.table : checkName("table", o.table),
  };
}

export function memoryStore(opts: MemoryStoreOptions = {}): Store {
  return new MemoryStore(resolveStoreOptions(opts));
}

class MemoryStore implements Store {
  private readonly index = new RecordIndex();
  private readonly instance = randomUUID().slice(0, 8);
  private seq = 0;
  private closed = false;

  constructor(private readonly opts: ResolvedStoreOptions) {}

  private open(): void {
    if (this.closed) throw serviceUnavailable(STORE_ERROR_ID, "store is closed");
  }

  async read(key: string, o: ReadOptions = {}): Promise<StoreRecord[]> {
    this.open();
    checkKey(key, Boolean(o.prefix || o.suffix));
    const { db, table } = scopeOf(this.opts, o);
    const page = { limit: checkCount("limit", o.limit), offset: checkCount("offset", o.offset) };
    return this.index.read(db, table, key, { ...o, ...page }, Date.now());
  }

  async write(rec: StoreRecord, o: WriteOptions = {}): Promise<void> {
    this.open();
    checkKey(rec?.key);
    const { db, table } = scopeOf(this.opts, o);
    const enc = encodeValue(rec.value, this.opts.maxValueSize);
    const metadata = copyMetadata(rec.metadata);
    const now = Date.now();
    const exp = expiresAt(rec.expiry, now);
    this.index.checkCondition(db, table, rec.key, now, o);
    const entry = { ...enc, expiresAt: exp, version: `${this.instance}.${++this.seq}` };
    this.index.put(db, table, rec.key, metadata ? { ...entry, metadata } : entry);
    // Expired records are invisible at once; their memory is reclaimed now and then.
    if (this.seq % 1024 === 0) this.index.sweep(now);
  }

  async delete(key: string, o: DeleteOptions = {}): Promise<void> {
    this.open();
    checkKey(key);
    const { db, table } = scopeOf(this.opts, o);
    this.index.del(db, table, key);
  }

  async list(o: ListOptions = {}): Promise<string[]> {
    this.open();
    const { db, table } = scopeOf(this.opts, o);
    const page = { limit: checkCount("limit", o.limit), offset: checkCount("offset", o.offset) };
    return this.index.list(db, table, { ...o, ...page }, Date.now());
  }

  async databases(): Promise<string[]> {
    this.open();
    return this.index.databases(Date.now());
  }

  async tables(database: string): Promise<string[]> {
    this.open();
    return this.index.tables(checkName("database", database), Date.now());
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
