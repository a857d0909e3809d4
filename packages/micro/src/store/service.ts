/**
 * A store served by the `store` core service of a `micro server`. Every call names its
 * database and table explicitly (this store's defaults filled in), so one server store
 * holds every service's tables. Bytes travel in base64; JSON values as they are.
 */
import { badRequest } from "../errors/errors.js";
import { fromBase64, Remote, toBase64, type RemoteOptions } from "../util/remote.js";
import {
  STORE_DEFAULTS,
  STORE_ERROR_ID,
  type DeleteOptions,
  type ListOptions,
  type ReadOptions,
  type Scope,
  type Store,
  type StoreRecord,
  type WriteOptions,
} from "./store.js";

export interface ServiceStoreOptions extends RemoteOptions {
  /** @default "micro" */
  database?: string;
  /** @default "default" */
  table?: string;
}

export const STORE_SERVICE = "store";

/** A record on the wire: `bytes` (base64) or `value` (JSON). */
export interface WireRecord {
  key: string;
  value?: unknown;
  bytes?: string;
  metadata?: Record<string, unknown>;
  expiry?: number;
  version?: string;
}

export function recordToWire(r: StoreRecord): WireRecord {
  const out: WireRecord = { key: r.key };
  if (r.value instanceof Uint8Array) out.bytes = toBase64(r.value);
  else out.value = r.value;
  if (r.metadata !== undefined) out.metadata = r.metadata;
  if (r.expiry !== undefined) out.expiry = r.expiry;
  if (r.version !== undefined) out.version = r.version;
  return out;
}

export function recordFromWire(w: WireRecord): StoreRecord {
  const out: StoreRecord = { key: w.key, value: w.bytes !== undefined ? fromBase64(w.bytes) : (w.value as StoreRecord["value"]) };
  if (w.metadata !== undefined) out.metadata = w.metadata;
  if (w.expiry !== undefined && w.expiry !== null) out.expiry = w.expiry;
  if (w.version !== undefined) out.version = w.version;
  return out;
}

/** Values JSON cannot carry are refused here with the 400 the store itself would give. */
function checkJSON(v: unknown): void {
  if (v instanceof Uint8Array) return;
  let text: string | undefined;
  try {
    text = JSON.stringify(v);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw badRequest(STORE_ERROR_ID, "value must be bytes or a JSON value");
}

class ServiceStore implements Store {
  private readonly remote: Remote;
  private readonly database: string;
  private readonly table: string;

  constructor(opts: ServiceStoreOptions) {
    this.remote = new Remote(STORE_SERVICE, opts);
    this.database = opts.database ?? STORE_DEFAULTS.database;
    this.table = opts.table ?? STORE_DEFAULTS.table;
    if (!this.database || !this.table) throw new TypeError("database and table must not be empty");
  }

  private scope(o: Scope | undefined): { database: string; table: string } {
    return { database: o?.database ?? this.database, table: o?.table ?? this.table };
  }

  async read(key: string, o: ReadOptions = {}): Promise<StoreRecord[]> {
    const rsp = await this.remote.call<{ records: WireRecord[] }>("Store.Read", { key, options: { ...o, ...this.scope(o) } });
    return rsp.records.map(recordFromWire);
  }

  async write(rec: StoreRecord, o: WriteOptions = {}): Promise<void> {
    if (this.remote.isClosed) throw this.remote.closedError();
    checkJSON(rec.value);
    checkJSON(rec.metadata ?? null);
    await this.remote.call("Store.Write", { record: recordToWire(rec), options: { ...o, ...this.scope(o) } });
  }

  async delete(key: string, o: DeleteOptions = {}): Promise<void> {
    await this.remote.call("Store.Delete", { key, options: this.scope(o) });
  }

  async list(o: ListOptions = {}): Promise<string[]> {
    const rsp = await this.remote.call<{ keys: string[] }>("Store.List", { options: { ...o, ...this.scope(o) } });
    return rsp.keys;
  }

  async databases(): Promise<string[]> {
    return (await this.remote.call<{ databases: string[] }>("Store.Databases", {})).databases;
  }

  async tables(database: string): Promise<string[]> {
    return (await this.remote.call<{ tables: string[] }>("Store.Tables", { database })).tables;
  }

  async close(): Promise<void> {
    if (this.remote.isClosed) return;
    await this.remote.close();
  }
}

export function serviceStore(opts: ServiceStoreOptions): Store {
  return new ServiceStore(opts);
}
