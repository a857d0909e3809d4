/**
 * A caching registry: lookups are served from memory and kept fresh by watching the
 * underlying registry; entries also expire after `ttl` as a safety net. It *is* a Registry.
 */
import { MicroError } from "../errors/errors.js";
import {
  cloneRecord,
  type RegisterOptions,
  type Registry,
  type RegistryEvent,
  type ServiceRecord,
  type Watcher,
  type WatchOptions,
} from "./registry.js";

export interface CacheRegistryOptions {
  /** How long a cached lookup is trusted without a watch event, in ms. @default 60000 */
  ttl?: number;
}

interface Cached {
  records: ServiceRecord[];
  expires: number;
}

export class CacheRegistry implements Registry {
  readonly name: string;
  private readonly cache = new Map<string, Cached>();
  private readonly inflight = new Map<string, Promise<ServiceRecord[]>>();
  private watcher: Watcher | undefined;
  private readonly ttl: number;
  private closed = false;

  constructor(
    private readonly inner: Registry,
    opts: CacheRegistryOptions = {},
  ) {
    this.name = inner.name;
    this.ttl = opts.ttl ?? 60_000;
  }

  register(s: ServiceRecord, o?: RegisterOptions): Promise<void> {
    return this.inner.register(s, o);
  }

  deregister(s: ServiceRecord): Promise<void> {
    return this.inner.deregister(s);
  }

  listServices(): Promise<ServiceRecord[]> {
    return this.inner.listServices();
  }

  watch(o?: WatchOptions): Watcher {
    return this.inner.watch(o);
  }

  /** Served from the cache when fresh; concurrent misses share one lookup. */
  async getService(name: string): Promise<ServiceRecord[]> {
    return (await this.lookup(name)).map(cloneRecord);
  }

  /** The cached records when fresh, synchronously; undefined on a miss (hot path, no copy). */
  peek(name: string): ServiceRecord[] | undefined {
    const c = this.cache.get(name);
    return c && c.expires > Date.now() && c.records.length > 0 ? c.records : undefined;
  }

  /** Like getService, without the copy: the caller must not mutate the result (hot path). */
  lookup(name: string): Promise<ServiceRecord[]> {
    const c = this.cache.get(name);
    if (c && c.expires > Date.now() && c.records.length > 0) return Promise.resolve(c.records);
    let p = this.inflight.get(name);
    if (p) return p;
    this.startWatch();
    p = this.inner.getService(name).then(
      (records) => {
        this.inflight.delete(name);
        this.cache.set(name, { records, expires: Date.now() + this.ttl });
        return records;
      },
      (err: unknown) => {
        this.inflight.delete(name);
        // A stale answer beats none when the registry itself is unreachable.
        if (c && !(err instanceof MicroError && err.code === 404)) return c.records;
        throw err;
      },
    );
    this.inflight.set(name, p);
    return p;
  }

  /** Drops a service from the cache (e.g. after all its nodes failed). */
  invalidate(name: string): void {
    this.cache.delete(name);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watcher?.stop();
    this.cache.clear();
  }

  private startWatch(): void {
    if (this.watcher || this.closed) return;
    const w = (this.watcher = this.inner.watch());
    void (async () => {
      try {
        for await (const ev of w) this.apply(ev);
      } catch {
        // the watch broke: forget everything, the next lookup re-reads and re-watches
      }
      this.cache.clear();
      if (this.watcher === w) this.watcher = undefined;
    })();
  }

  private apply(ev: RegistryEvent): void {
    const c = this.cache.get(ev.service.name);
    if (!c) return;
    const s = ev.service;
    const version = s.version || "latest";
    let records = c.records.map(cloneRecord);
    let rec = records.find((r) => r.version === version);
    if (ev.action === "delete") {
      if (!rec) return;
      const gone = new Set(s.nodes.map((n) => n.id));
      rec.nodes = rec.nodes.filter((n) => !gone.has(n.id));
      records = records.filter((r) => r.nodes.length > 0);
    } else {
      if (!rec) {
        rec = { ...cloneRecord(s), nodes: [] };
        records.push(rec);
      } else {
        rec.metadata = { ...(s.metadata ?? {}) };
        rec.endpoints = cloneRecord(s).endpoints ?? [];
      }
      for (const n of s.nodes) {
        const i = rec.nodes.findIndex((x) => x.id === n.id);
        if (i === -1) rec.nodes.push({ ...n });
        else rec.nodes[i] = { ...n };
      }
    }
    if (records.length === 0) this.cache.delete(s.name);
    else this.cache.set(s.name, { records, expires: c.expires });
  }
}

export function cacheRegistry(inner: Registry, opts: CacheRegistryOptions = {}): CacheRegistry {
  return new CacheRegistry(inner, opts);
}
