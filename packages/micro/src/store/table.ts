// The in-memory index of records shared by the memory store and the file store.
import { conflict, notFound } from "../errors/errors.js";
import { decodeValue, type Encoded } from "./codec.js";
import { STORE_ERROR_ID, type StoreRecord } from "./store.js";

export interface Entry extends Encoded {
  metadata?: Record<string, unknown>;
  /** ms since epoch; 0 = never. */
  expiresAt: number;
  version: string;
}

export interface Page {
  limit?: number;
  offset?: number;
}

/** database -> table -> key -> entry. */
export class RecordIndex {
  private readonly dbs = new Map<string, Map<string, Map<string, Entry>>>();

  table(db: string, table: string, create: true): Map<string, Entry>;
  table(db: string, table: string, create?: false): Map<string, Entry> | undefined;
  table(db: string, table: string, create = false): Map<string, Entry> | undefined {
    let tables = this.dbs.get(db);
    if (!tables) {
      if (!create) return undefined;
      tables = new Map();
      this.dbs.set(db, tables);
    }
    let t = tables.get(table);
    if (!t && create) {
      t = new Map();
      tables.set(table, t);
    }
    return t;
  }

  /** The live entry, or undefined (an expired entry is dropped on sight). */
  get(db: string, table: string, key: string, now: number): Entry | undefined {
    const t = this.table(db, table);
    const e = t?.get(key);
    if (!e) return undefined;
    if (e.expiresAt !== 0 && e.expiresAt <= now) return undefined;
    return e;
  }

  /** Throws 409 unless the write's conditions hold against the current live entry. */
  checkCondition(
    db: string,
    table: string,
    key: string,
    now: number,
    c: { ifVersion?: string | undefined; ifNotExists?: boolean | undefined },
  ): void {
    if (c.ifVersion === undefined && !c.ifNotExists) return;
    const cur = this.get(db, table, key, now);
    if (c.ifNotExists && cur) throw conflict(STORE_ERROR_ID, "key exists");
    if (c.ifVersion !== undefined && cur?.version !== c.ifVersion) {
      throw conflict(STORE_ERROR_ID, "version does not match");
    }
  }

  put(db: string, table: string, key: string, e: Entry): Entry | undefined {
    const t = this.table(db, table, true);
    const old = t.get(key);
    t.set(key, e);
    return old;
  }

  /** Removes the key; returns the removed entry. */
  del(db: string, table: string, key: string): Entry | undefined {
    const tables = this.dbs.get(db);
    const t = tables?.get(table);
    const old = t?.get(key);
    if (!old || !t || !tables) return undefined;
    t.delete(key);
    if (t.size === 0) tables.delete(table);
    if (tables.size === 0) this.dbs.delete(db);
    return old;
  }

  read(
    db: string,
    table: string,
    key: string,
    o: { prefix?: boolean; suffix?: boolean } & Page,
    now: number,
  ): StoreRecord[] {
    if (!o.prefix && !o.suffix) {
      const e = this.get(db, table, key, now);
      if (!e) throw notFound(STORE_ERROR_ID, "record not found");
      return [toRecord(key, e, now)];
    }
    const keys = this.keys(db, table, now, (k) => (!o.prefix || k.startsWith(key)) && (!o.suffix || k.endsWith(key)));
    const t = this.table(db, table);
    return page(keys, o).map((k) => toRecord(k, t!.get(k)!, now));
  }

  list(db: string, table: string, o: { prefix?: string; suffix?: string } & Page, now: number): string[] {
    const { prefix, suffix } = o;
    const keys = this.keys(
      db,
      table,
      now,
      (k) => (prefix === undefined || k.startsWith(prefix)) && (suffix === undefined || k.endsWith(suffix)),
    );
    return page(keys, o);
  }

  databases(now: number): string[] {
    return [...this.dbs.keys()].filter((db) => this.tables(db, now).length > 0).sort(byCodePoint);
  }

  tables(db: string, now: number): string[] {
    const tables = this.dbs.get(db);
    if (!tables) return [];
    return [...tables.keys()].filter((t) => this.keys(db, t, now, () => true).length > 0).sort(byCodePoint);
  }

  /** Drops expired entries. */
  sweep(now: number): void {
    const dead: [string, string, string][] = [];
    for (const [d, t, k, e] of this.entries()) if (e.expiresAt !== 0 && e.expiresAt <= now) dead.push([d, t, k]);
    for (const [d, t, k] of dead) this.del(d, t, k);
  }

  /** Every entry, expired ones included, as [db, table, key, entry]. */
  *entries(db?: string): Generator<[string, string, string, Entry]> {
    for (const [d, tables] of this.dbs) {
      if (db !== undefined && d !== db) continue;
      for (const [t, m] of tables) for (const [k, e] of m) yield [d, t, k, e];
    }
  }

  private keys(db: string, table: string, now: number, pred: (k: string) => boolean): string[] {
    const t = this.table(db, table);
    if (!t) return [];
    const out: string[] = [];
    for (const [k, e] of t) if ((e.expiresAt === 0 || e.expiresAt > now) && pred(k)) out.push(k);
    return out.sort(byCodePoint);
  }
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function page<T>(items: T[], o: Page): T[] {
  const start = o.offset ?? 0;
  return o.limit ? items.slice(start, start + o.limit) : items.slice(start);
}

function toRecord(key: string, e: Entry, now: number): StoreRecord {
  const r: StoreRecord = { key, value: decodeValue(e), version: e.version };
  if (e.metadata) r.metadata = JSON.parse(JSON.stringify(e.metadata)) as Record<string, unknown>;
  if (e.expiresAt !== 0) r.expiry = Math.max(1, e.expiresAt - now);
  return r;
}
