// memorySync: leases in a Map, for one process. Waiters are woken by releases, not by polling.
import { LeaseSync, type Current, type Lease, type Register } from "./lease.js";
import type { Sync, SyncOptions } from "./sync.js";

export type MemorySyncOptions = SyncOptions;

export function memorySync(opts: MemorySyncOptions = {}): Sync {
  return new LeaseSync(new MemoryRegister(), opts);
}

class MemoryRegister implements Register {
  private readonly leases = new Map<string, Current>();
  private seq = 0;
  readonly pollInterval = Infinity;

  async get(id: string): Promise<Current | undefined> {
    const c = this.leases.get(id);
    return c && { version: c.version, lease: { ...c.lease } };
  }

  async cas(id: string, expected: string | undefined, lease: Lease): Promise<string | undefined> {
    if (this.leases.get(id)?.version !== expected) return undefined;
    if (lease.released) {
      // Nothing waits on a released lease: drop it so the map does not grow without bound.
      this.leases.delete(id);
      return String(++this.seq);
    }
    const version = String(++this.seq);
    this.leases.set(id, { version, lease: { ...lease } });
    return version;
  }
}
