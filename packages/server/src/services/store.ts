/**
 * The `store` core service: a Store (the file store under the data dir) behind
 * `Store.Read/Write/Delete/List/Databases/Tables`. Records travel with bytes in base64
 * (`bytes`) or JSON as is (`value`). serviceStore() in the core is its client.
 */
import { errors, type ReadOptions, type ListOptions, type Store, type StoreRecord, type WriteOptions, type Scope } from "@micro-ts/micro";
import { fromBase64, toBase64 } from "./queue.js";

export interface WireRecord {
  key: string;
  value?: unknown;
  bytes?: string;
  metadata?: Record<string, unknown>;
  expiry?: number;
  version?: string;
}

function toWire(r: StoreRecord): WireRecord {
  const out: WireRecord = { key: r.key };
  if (r.value instanceof Uint8Array) out.bytes = toBase64(r.value);
  else out.value = r.value;
  if (r.metadata !== undefined) out.metadata = r.metadata;
  if (r.expiry !== undefined) out.expiry = r.expiry;
  if (r.version !== undefined) out.version = r.version;
  return out;
}

function fromWire(w: WireRecord): StoreRecord {
  const out: StoreRecord = { key: w.key, value: (typeof w.bytes === "string" ? fromBase64(w.bytes) : w.value) as StoreRecord["value"] };
  if (w.metadata !== undefined) out.metadata = w.metadata;
  if (w.expiry !== undefined) out.expiry = w.expiry;
  return out;
}

/** Keeps only the fields an option object may have, so a caller cannot smuggle others in. */
function scope<T extends Scope>(o: T | undefined, extra: readonly (keyof T)[]): T {
  const out = {} as T;
  if (!o || typeof o !== "object") return out;
  for (const k of ["database", "table", ...extra] as (keyof T)[]) if (o[k] !== undefined && o[k] !== null) out[k] = o[k];
  return out;
}

function key(k: unknown): string {
  if (typeof k !== "string") throw errors.badRequest("micro.store", "key must be a string");
  return k;
}

export class StoreHandler {
  constructor(private readonly store: Store) {}

  async read(req: { key?: string; options?: ReadOptions }): Promise<{ records: WireRecord[] }> {
    const o = scope<ReadOptions>(req.options, ["prefix", "suffix", "limit", "offset"]);
    return { records: (await this.store.read(key(req.key ?? ""), o)).map(toWire) };
  }

  async write(req: { record?: WireRecord; options?: WriteOptions }): Promise<Record<string, never>> {
    if (!req.record || typeof req.record !== "object") throw errors.badRequest("micro.store", "record is required");
    await this.store.write(fromWire({ ...req.record, key: key(req.record.key) }), scope<WriteOptions>(req.options, ["ifVersion", "ifNotExists"]));
    return {};
  }

  async delete(req: { key?: string; options?: Scope }): Promise<Record<string, never>> {
    await this.store.delete(key(req.key), scope<Scope>(req.options, []));
    return {};
  }

  async list(req: { options?: ListOptions }): Promise<{ keys: string[] }> {
    return { keys: await this.store.list(scope<ListOptions>(req.options, ["prefix", "suffix", "limit", "offset"])) };
  }

  async databases(): Promise<{ databases: string[] }> {
    return { databases: await this.store.databases() };
  }

  async tables(req: { database?: string }): Promise<{ tables: string[] }> {
    if (typeof req.database !== "string") throw errors.badRequest("micro.store", "database is required");
    return { tables: await this.store.tables(req.database) };
  }
}
