// storeSync: leases kept in a Store with compare-and-set writes (WriteOptions.ifVersion).
// On a file store it uses lock files in the store's directory instead, so processes that each
// open a file store on the same directory share locks (a file store's records are not shared).
import { join } from "node:path";
import { notImplemented, MicroError } from "../errors/errors.js";
import { isFileStore } from "../store/file.js";
import type { Store } from "../store/store.js";
import { FileRegister } from "./file-register.js";
import { LeaseSync, type Current, type Lease, type Register } from "./lease.js";
import { SYNC_ERROR_ID, type Sync, type SyncOptions } from "./sync.js";

export interface StoreSyncOptions extends SyncOptions {
  store: Store;
  /** Database of the lease records. @default the store's default database */
  database?: string;
  /** Table of the lease records. @default "micro.sync" */
  table?: string;
  /** How often a waiter re-checks a held lock or leadership, in ms. @default 50 */
  pollInterval?: number;
}

export function storeSync(opts: StoreSyncOptions): Sync {
  const { store, pollInterval = 50 } = opts;
  if (!(pollInterval > 0)) throw new TypeError("pollInterval must be positive");
  const register = isFileStore(store)
    ? new FileRegister(join(store.dir, "_sync"), pollInterval)
    : new StoreRegister(store, { table: opts.table ?? "micro.sync", ...(opts.database ? { database: opts.database } : {}) }, pollInterval);
  return new LeaseSync(register, opts);
}

/** How long a lease record outlives its lease before the store drops it. */
const KEEP = 60_000;

class StoreRegister implements Register {
  constructor(
    private readonly store: Store,
    private readonly scope: { database?: string; table: string },
    readonly pollInterval: number,
  ) {}

  async get(id: string): Promise<Current | undefined> {
    try {
      const [rec] = await this.store.read(id, this.scope);
      if (!rec) return undefined;
      if (rec.version === undefined) throw notImplemented(SYNC_ERROR_ID, "store does not report record versions");
      return { version: rec.version, lease: rec.value as unknown as Lease };
    } catch (e) {
      if (e instanceof MicroError && e.code === 404) return undefined;
      throw e;
    }
  }

  async cas(id: string, expected: string | undefined, lease: Lease): Promise<string | undefined> {
    const cond = expected === undefined ? { ifNotExists: true } : { ifVersion: expected };
    const expiry = Math.max(0, lease.expires - Date.now()) + KEEP;
    try {
      await this.store.write({ key: id, value: { ...lease }, expiry }, { ...this.scope, ...cond });
    } catch (e) {
      if (e instanceof MicroError && e.code === 409) return undefined;
      throw e;
    }
    // write() does not return the version: read it back. Nobody else can have written since
    // unless our fresh lease already ran out, which the owner/expires check catches.
    const cur = await this.get(id);
    const l = cur?.lease;
    return l && l.owner === lease.owner && l.expires === lease.expires && Boolean(l.released) === Boolean(lease.released)
      ? cur.version
      : undefined;
  }
}
