/**
 * The store on Redis. Layout (N = namespace, db/table escaped so ':' never splits them):
 *   N:store:<db>:<table>:r:<key>  a hash per record: v version, k kind (j JSON, b bytes),
 *                                 m metadata JSON, d the value; TTL set with PEXPIRE
 *   N:store:<db>:<table>:i        a sorted set of the table's keys (all score 0) for ordered
 *                                 prefix listing with ZRANGEBYLEX; expired keys are pruned lazily
 *   N:store:<db>:t                sorted set of the database's tables
 *   N:store:d                     sorted set of databases
 *   N:store:ver                   the version counter (INCR): versions are never reused
 * Writes, conditional writes and deletes are one Lua script each, so they are atomic.
 */
import { errors, STORE_DEFAULTS, type ListOptions, type ReadOptions, type Scope, type Store, type StoreOptions, type StoreRecord, type WriteOptions } from "@micro-ts/micro";
import type { Redis } from "ioredis";
import { Connection, escapeName, type RedisConnectOptions } from "./connection.js";
import { checkCount, checkKey, checkName, checkTTL, decodeValue, encodeValue, metadataJSON, STORE_ERROR_ID } from "./values.js";

export interface RedisStoreOptions extends StoreOptions, RedisConnectOptions {}

const WRITE = `
local mode = ARGV[6]
if mode == 'nx' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if mode == 'ver' then
  local v = redis.call('HGET', KEYS[1], 'v')
  if v ~= ARGV[7] then return 0 end
end
local ver = redis.call('INCR', KEYS[5])
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ver, 'k', ARGV[2], 'm', ARGV[3], 'd', ARGV[4])
local ttl = tonumber(ARGV[5])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[8])
redis.call('ZADD', KEYS[4], 0, ARGV[9])
return ver
`;

const DELETE = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
  if redis.call('ZCARD', KEYS[3]) == 0 then redis.call('ZREM', KEYS[4], ARGV[3]) end
end
return 1
`;

/** Prunes the named keys from the index when their record is gone; drops empty tables/databases. */
const PRUNE = `
local n = 0
for i = 1, #ARGV - 2 do
  if redis.call('EXISTS', KEYS[5] .. ARGV[i]) == 0 then
    redis.call('ZREM', KEYS[1], ARGV[i])
    n = n + 1
  end
end
if redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[#ARGV - 1])
  if redis.call('ZCARD', KEYS[2]) == 0 then redis.call('ZREM', KEYS[3], ARGV[#ARGV]) end
end
return n
`;

type Scripted = Redis & {
  microStoreWrite(...args: (string | Buffer | number)[]): Promise<number>;
  microStoreDelete(...args: string[]): Promise<number>;
  microStorePrune(...args: string[]): Promise<number>;
};

const BATCH = 256;

export class RedisStore implements Store {
  private readonly conn: Connection;
  private readonly database: string;
  private readonly table: string;
  private readonly maxValueSize: number;
  private readonly ns: string;
  private readonly scripted = new WeakSet<Redis>();

  constructor(opts: RedisStoreOptions = {}) {
    const o = { ...STORE_DEFAULTS, ...opts };
    this.database = checkName("database", o.database);
    this.table = checkName("table", o.table);
    this.maxValueSize = o.maxValueSize;
    this.conn = new Connection(opts, STORE_ERROR_ID);
    this.ns = `${this.conn.namespace}:store`;
  }

  private scope(s: Scope | undefined) {
    const db = checkName("database", s?.database ?? this.database);
    const table = checkName("table", s?.table ?? this.table);
    const base = `${this.ns}:${escapeName(db)}:${escapeName(table)}`;
    return {
      db,
      table,
      record: `${base}:r:`,
      index: `${base}:i`,
      tables: `${this.ns}:${escapeName(db)}:t`,
      dbs: `${this.ns}:d`,
    };
  }

  private run<T>(fn: (r: Scripted) => Promise<T>): Promise<T> {
    return this.conn.run(async (r) => {
      if (!this.scripted.has(r)) {
        r.defineCommand("microStoreWrite", { numberOfKeys: 5, lua: WRITE });
        r.defineCommand("microStoreDelete", { numberOfKeys: 4, lua: DELETE });
        r.defineCommand("microStorePrune", { numberOfKeys: 5, lua: PRUNE });
        this.scripted.add(r);
      }
      return fn(r as Scripted);
    });
  }

  async read(key: string, o: ReadOptions = {}): Promise<StoreRecord[]> {
    const many = !!(o.prefix || o.suffix);
    checkKey(key, many);
    const sc = this.scope(o);
    if (!many) {
      const [rec] = await this.fetch(sc.record, [key]);
      if (!rec) throw errors.notFound(STORE_ERROR_ID, `${key} not found`);
      return [rec];
    }
    const keys = await this.keys(sc, o.prefix ? key : "", o.suffix ? key : "", checkCount("offset", o.offset) ?? 0, checkCount("limit", o.limit) ?? 0);
    return this.fetch(sc.record, keys);
  }

  /** Records for `keys` (in order), skipping the ones that are gone. */
  private fetch(prefix: string, keys: string[]): Promise<StoreRecord[]> {
    if (keys.length === 0) return Promise.resolve([]);
    return this.run(async (r) => {
      const p = r.pipeline();
      for (const k of keys) {
        p.hgetallBuffer(prefix + k);
        p.pttl(prefix + k);
      }
      const res = (await p.exec()) ?? [];
      const out: StoreRecord[] = [];
      keys.forEach((key, i) => {
        const [e1, h] = res[2 * i] ?? [];
        const [e2, ttl] = res[2 * i + 1] ?? [];
        if (e1 || e2) throw e1 ?? e2;
        const hash = h as Record<string, Buffer>;
        if (!hash || !hash["v"]) return;
        const rec: StoreRecord = {
          key,
          value: decodeValue(hash["d"] ?? Buffer.alloc(0), hash["k"]?.toString() === "j"),
          version: hash["v"].toString(),
        };
        const m = hash["m"]?.toString();
        if (m) rec.metadata = JSON.parse(m) as Record<string, unknown>;
        if (typeof ttl === "number" && ttl > 0) rec.expiry = ttl;
        out.push(rec);
      });
      return out;
    });
  }

  /** Live keys of a table, sorted, filtered, then paged. Prunes expired keys from the index. */
  private async keys(sc: ReturnType<RedisStore["scope"]>, prefix: string, suffix: string, offset: number, limit: number): Promise<string[]> {
    const min = Buffer.from(prefix === "" ? "-" : `[${prefix}`);
    const max = prefix === "" ? Buffer.from("+") : Buffer.concat([Buffer.from(`(${prefix}`), Buffer.from([0xff])]);
    const out: string[] = [];
    let skip = offset;
    let from = 0;
    for (;;) {
      const batch = await this.run((r) => r.zrangebylexBuffer(sc.index, min, max, "LIMIT", from, BATCH));
      from += batch.length;
      const candidates = batch.map((b) => b.toString("utf8")).filter((k) => k.endsWith(suffix));
      if (candidates.length > 0) {
        const live = await this.run(async (r) => {
          const p = r.pipeline();
          for (const k of candidates) p.exists(sc.record + k);
          return ((await p.exec()) ?? []).map(([e, n]) => {
            if (e) throw e;
            return n === 1;
          });
        });
        const gone = candidates.filter((_, i) => !live[i]);
        if (gone.length > 0) {
          await this.run((r) => r.microStorePrune(sc.index, sc.tables, sc.dbs, "", sc.record, ...gone, sc.table, sc.db));
          from -= gone.length;
        }
        for (const [i, k] of candidates.entries()) {
          if (!live[i]) continue;
          if (skip > 0) {
            skip--;
            continue;
          }
          out.push(k);
          if (limit > 0 && out.length >= limit) return out;
        }
      }
      if (batch.length < BATCH) return out;
    }
  }

  async write(rec: StoreRecord, o: WriteOptions = {}): Promise<void> {
    if (typeof rec !== "object" || rec === null) throw errors.badRequest(STORE_ERROR_ID, "record must be an object");
    const key = checkKey(rec.key);
    const enc = encodeValue(rec.value, this.maxValueSize);
    const meta = metadataJSON(rec.metadata);
    const ttl = checkTTL(rec.expiry);
    const sc = this.scope(o);
    const mode = o.ifVersion !== undefined ? "ver" : o.ifNotExists ? "nx" : "";
    const ver = await this.run((r) =>
      r.microStoreWrite(sc.record + key, sc.index, sc.tables, sc.dbs, `${this.ns}:ver`, key, enc.json ? "j" : "b", meta, Buffer.from(enc.bytes.buffer, enc.bytes.byteOffset, enc.bytes.byteLength), ttl, mode, o.ifVersion ?? "", sc.table, sc.db),
    );
    if (ver === 0) throw errors.conflict(STORE_ERROR_ID, `${key}: condition failed`);
  }

  async delete(key: string, o: Scope = {}): Promise<void> {
    checkKey(key);
    const sc = this.scope(o);
    await this.run((r) => r.microStoreDelete(sc.record + key, sc.index, sc.tables, sc.dbs, key, sc.table, sc.db));
  }

  async list(o: ListOptions = {}): Promise<string[]> {
    const sc = this.scope(o);
    const prefix = o.prefix ?? "";
    const suffix = o.suffix ?? "";
    if (typeof prefix !== "string" || typeof suffix !== "string") throw errors.badRequest(STORE_ERROR_ID, "prefix and suffix must be strings");
    return this.keys(sc, prefix, suffix, checkCount("offset", o.offset) ?? 0, checkCount("limit", o.limit) ?? 0);
  }

  async databases(): Promise<string[]> {
    const names = (await this.run((r) => r.zrange(`${this.ns}:d`, 0, -1)));
    const out: string[] = [];
    for (const db of names) if ((await this.tables(db)).length > 0) out.push(db);
    return out.sort();
  }

  async tables(database: string): Promise<string[]> {
    checkName("database", database);
    const names = (await this.run((r) => r.zrange(`${this.ns}:${escapeName(database)}:t`, 0, -1)));
    const out: string[] = [];
    for (const table of names) {
      if ((await this.keys(this.scope({ database, table }), "", "", 0, 1)).length > 0) out.push(table);
    }
    return out.sort();
  }

  async close(): Promise<void> {
    this.conn.close();
  }
}

/** A Store on Redis (see RedisStore for the key layout). */
export function redisStore(opts: RedisStoreOptions = {}): RedisStore {
  return new RedisStore(opts);
}
