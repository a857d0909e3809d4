import { notFound } from "../errors/errors.js";
import { AsyncQueue } from "../util/watcher.js";
import {
  cloneRecord,
  type Action,
  type Node,
  type RegisterOptions,
  type Registry,
  type RegistryEvent,
  type ServiceRecord,
  type Watcher,
  type WatchOptions,
} from "./registry.js";

export interface MemoryRegistryOptions {
  /** How often expired nodes are swept, in ms. @default 1000 */
  sweepInterval?: number;
}

interface Entry {
  record: ServiceRecord;
  nodes: Map<string, { node: Node; expires: number }>;
}

/** A registry in this process's memory: for tests and single-process apps. */
export class MemoryRegistry implements Registry {
  readonly name = "memory";
  private readonly services = new Map<string, Map<string, Entry>>();
  private readonly watchers = new Set<{ q: AsyncQueue<RegistryEvent>; service?: string }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly sweepInterval: number;
  private closed = false;

  constructor(opts: MemoryRegistryOptions = {}) {
    this.sweepInterval = opts.sweepInterval ?? 1000;
  }

  async register(s: ServiceRecord, o: RegisterOptions = {}): Promise<void> {
    const rec = cloneRecord(s);
    let versions = this.services.get(rec.name);
    if (!versions) this.services.set(rec.name, (versions = new Map()));
    let entry = versions.get(rec.version);
    const action: Action = entry ? "update" : "create";
    if (!entry) versions.set(rec.version, (entry = { record: rec, nodes: new Map() }));
    entry.record = { ...rec, nodes: [] };
    const expires = o.ttl && o.ttl > 0 ? Date.now() + o.ttl : Infinity;
    for (const n of rec.nodes) entry.nodes.set(n.id, { node: n, expires });
    if (expires !== Infinity) this.startSweep();
    this.emit(action, { ...entry.record, nodes: rec.nodes });
  }

  async deregister(s: ServiceRecord): Promise<void> {
    const versions = this.services.get(s.name);
    const entry = versions?.get(s.version || "latest");
    if (!versions || !entry) return;
    const gone: Node[] = [];
    for (const n of s.nodes ?? []) {
      const had = entry.nodes.get(n.id);
      if (had && entry.nodes.delete(n.id)) gone.push(had.node);
    }
    if (entry.nodes.size === 0) versions.delete(entry.record.version);
    if (versions.size === 0) this.services.delete(s.name);
    if (gone.length > 0) this.emit("delete", { ...entry.record, nodes: gone });
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    this.sweep();
    const versions = this.services.get(name);
    if (!versions || versions.size === 0) throw notFound("registry", `service ${name} not found`);
    return [...versions.values()].map((e) => this.snapshot(e));
  }

  async listServices(): Promise<ServiceRecord[]> {
    this.sweep();
    const out: ServiceRecord[] = [];
    for (const versions of this.services.values()) for (const e of versions.values()) out.push(this.snapshot(e));
    return out;
  }

  watch(o: WatchOptions = {}): Watcher {
    const w: { q: AsyncQueue<RegistryEvent>; service?: string } = {
      q: new AsyncQueue<RegistryEvent>(() => this.watchers.delete(w)),
    };
    if (o.service !== undefined) w.service = o.service;
    if (this.closed) w.q.end();
    else this.watchers.add(w);
    return Object.assign(w.q, { stop: () => w.q.end() }) as unknown as Watcher;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const w of [...this.watchers]) w.q.end();
  }

  private snapshot(e: Entry): ServiceRecord {
    return cloneRecord({ ...e.record, nodes: [...e.nodes.values()].map((x) => x.node) });
  }

  private emit(action: Action, service: ServiceRecord): void {
    const ev: RegistryEvent = { action, service: cloneRecord(service), timestamp: Date.now() };
    for (const w of this.watchers) if (w.service === undefined || w.service === service.name) w.q.push(ev);
  }

  private startSweep(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.sweep(), this.sweepInterval);
    this.timer.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [name, versions] of this.services) {
      for (const [version, entry] of versions) {
        const gone: Node[] = [];
        for (const [id, n] of entry.nodes) {
          if (n.expires <= now) {
            entry.nodes.delete(id);
            gone.push(n.node);
          }
        }
        if (entry.nodes.size === 0) versions.delete(version);
        if (gone.length > 0) this.emit("delete", { ...entry.record, nodes: gone });
      }
      if (versions.size === 0) this.services.delete(name);
    }
  }
}

export function memoryRegistry(opts: MemoryRegistryOptions = {}): MemoryRegistry {
  return new MemoryRegistry(opts);
}
