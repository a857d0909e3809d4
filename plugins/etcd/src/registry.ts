/**
 * `etcdRegistry`: the Registry on etcd, with go-micro's layout so Go and TypeScript services
 * share one registry.
 *
 * Key: `/micro/registry/{service}/{node}` (a `/` inside a name or id becomes `-`, as in
 * go-micro). Value: the go-micro JSON record (`name`, `version`, `metadata`, `endpoints`,
 * `nodes`) holding that one node.
 *
 * TTL: a registration with a TTL is attached to an etcd lease of that TTL (whole seconds,
 * rounded up; etcd raises it to its own minimum, 2 s with default server settings).
 * Registering the node again renews it (a keepalive on the same lease, as go-micro does on
 * each register interval); a node whose process dies is deleted by etcd when the lease runs
 * out, within one TTL of its last renewal, and watchers see the delete.
 */
import {
  errors,
  type Logger,
  type Node,
  type RegisterOptions,
  type Registry,
  type RegistryEvent,
  type RegistryWatchOptions,
  type ServiceRecord,
  type Watcher,
} from "@micro-ts/micro";
import type { Etcd3, IKeyValue, Watcher as EtcdWatcher } from "etcd3";
import { Connector, deadline, etcdError, type EtcdConnectOptions } from "./connection.js";
import { AsyncQueue } from "@micro-ts/micro";

const ID = "micro.registry.etcd";

export interface EtcdRegistryOptions extends EtcdConnectOptions {
  /** The key prefix, go-micro's. @default "/micro/registry/" */
  prefix?: string;
  /** TTL of a registration that sets none, in ms; 0 keeps it until deregistered. @default 0 */
  ttl?: number;
  /** Where background failures are reported. @default none */
  logger?: Logger;
}

const DEFAULTS = { prefix: "/micro/registry/", ttl: 0 } as const;

/** go-micro's path escaping: `/` inside a name would split the key. */
const escape = (s: string): string => s.replaceAll("/", "-");

function copy(s: ServiceRecord, node: Node): ServiceRecord {
  return {
    name: s.name,
    version: s.version || "latest",
    metadata: { ...s.metadata },
    endpoints: (s.endpoints ?? []).map((e) => ({ ...e, metadata: { ...e.metadata } })),
    nodes: [{ ...node, metadata: { ...node.metadata } }],
  };
}

/** Decodes a stored go-micro record; anything else under the prefix is skipped. */
export function decodeRecord(value: Buffer | string | null | undefined): ServiceRecord | undefined {
  if (value === null || value === undefined) return undefined;
  try {
    const v = JSON.parse(value.toString()) as ServiceRecord | null;
    if (!v || typeof v.name !== "string" || !Array.isArray(v.nodes)) return undefined;
    return copy(v, v.nodes[0] ?? { id: "", address: "", metadata: {} });
  } catch {
    return undefined;
  }
}

/** Merges one-node records into one record per name and version. */
function merge(list: ServiceRecord[]): ServiceRecord[] {
  const out = new Map<string, ServiceRecord>();
  for (const s of list) {
    const k = `${s.name}\u0000${s.version}`;
    const r = out.get(k);
    if (r) r.nodes.push(...s.nodes);
    else out.set(k, s);
  }
  return [...out.values()];
}

interface Held {
  lease: string;
  ttl: number;
  value: string;
}

export class EtcdRegistry implements Registry {
  readonly name = "etcd";
  private readonly conn: Connector;
  private readonly prefix: string;
  private readonly ttl: number;
  private readonly log: Logger | undefined;
  /** Leases and values of the nodes this instance registered, by key. */
  private readonly held = new Map<string, Held>();
  private readonly watchers = new Set<EtcdRegistryWatcher>();
  /** Watchers being set up: a register/deregister waits for them, so they see it as a change. */
  private readonly settingUp = new Set<Promise<unknown>>();

  constructor(o: EtcdRegistryOptions = {}) {
    this.conn = new Connector(ID, o);
    this.prefix = o.prefix ?? DEFAULTS.prefix;
    this.ttl = o.ttl ?? DEFAULTS.ttl;
    this.log = o.logger;
    if (!this.prefix.startsWith("/") || !this.prefix.endsWith("/")) throw errors.badRequest(ID, "prefix must start and end with /");
    if (!(this.ttl >= 0)) throw errors.badRequest(ID, "ttl must be >= 0");
  }

  client(): Promise<Etcd3> {
    return this.conn.get();
  }

  /** The key of one node: `<prefix><service>/<node>`. */
  key(service: string, node: string): string {
    return `${this.prefix}${escape(service)}/${escape(node)}`;
  }

  /** The prefix of one service's keys, or of all. */
  keyPrefix(service?: string): string {
    return service === undefined ? this.prefix : `${this.prefix}${escape(service)}/`;
  }

  private async barrier(): Promise<void> {
    if (this.settingUp.size > 0) await Promise.allSettled([...this.settingUp]);
  }

  async register(s: ServiceRecord, o: RegisterOptions = {}): Promise<void> {
    this.conn.check();
    if (!s || typeof s.name !== "string" || s.name === "") throw errors.badRequest(ID, "service name is empty");
    const ttl = o.ttl ?? this.ttl;
    if (!(ttl >= 0)) throw errors.badRequest(ID, "ttl must be >= 0");
    const c = await this.client();
    await this.barrier();
    try {
      await Promise.all((s.nodes ?? []).map((n) => this.put(c, this.key(s.name, n.id), JSON.stringify(copy(s, n)), ttl)));
    } catch (e) {
      throw etcdError(ID, `register ${s.name}`, e);
    }
  }

  /** Writes one node; with a TTL, renews its lease and skips the write when nothing changed. */
  private async put(c: Etcd3, key: string, value: string, ttl: number): Promise<void> {
    const seconds = ttl > 0 ? Math.max(1, Math.ceil(ttl / 1000)) : 0;
    const had = this.held.get(key);
    let lease = "0";
    let renewed = false;
    if (had && had.ttl === seconds && seconds > 0) {
      // The same lease again, if etcd still has it.
      const left = await keepaliveOnce(c, had.lease, this.conn.timeout).catch(() => 0);
      if (left > 0) {
        lease = had.lease;
        renewed = true;
      }
    }
    if (seconds > 0 && !renewed) lease = (await c.leaseClient.leaseGrant({ TTL: seconds, ID: 0 })).ID;
    if (!renewed || had?.value !== value) {
      await c.put(key).value(value).lease(lease);
    }
    if (had && had.lease !== lease && had.lease !== "0") void c.leaseClient.leaseRevoke({ ID: had.lease }).catch(() => undefined);
    this.held.set(key, { lease, ttl: seconds, value });
  }

  async deregister(s: ServiceRecord): Promise<void> {
    this.conn.check();
    const c = await this.client();
    await this.barrier();
    try {
      await Promise.all(
        (s.nodes ?? []).map(async (n) => {
          const key = this.key(s.name, n.id);
          const had = this.held.get(key);
          this.held.delete(key);
          await c.delete().key(key);
          if (had && had.lease !== "0") await c.leaseClient.leaseRevoke({ ID: had.lease }).catch(() => undefined);
        }),
      );
    } catch (e) {
      throw etcdError(ID, `deregister ${s.name}`, e);
    }
  }

  private async records(prefix: string): Promise<ServiceRecord[]> {
    const c = await this.client();
    try {
      const r = await c.getAll().prefix(prefix).exec();
      return r.kvs.map((kv) => decodeRecord(kv.value)).filter((v): v is ServiceRecord => v !== undefined);
    } catch (e) {
      throw etcdError(ID, "reading the registry", e);
    }
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    this.conn.check();
    const list = (await this.records(this.keyPrefix(name))).filter((s) => s.name === name || escape(s.name) === escape(name));
    if (list.length === 0) throw errors.notFound(ID, `service ${name} not found`);
    return merge(list);
  }

  async listServices(): Promise<ServiceRecord[]> {
    this.conn.check();
    return merge(await this.records(this.prefix));
  }

  watch(o: RegistryWatchOptions = {}): Watcher {
    this.conn.check();
    const w = new EtcdRegistryWatcher(this, o.service, this.log, (x) => this.watchers.delete(x));
    this.watchers.add(w);
    const ready = w.ready.catch(() => undefined);
    this.settingUp.add(ready);
    void ready.then(() => this.settingUp.delete(ready));
    return w;
  }

  /**
   * Stops watchers and closes the client. Registrations stay until deregistered or their
   * lease runs out (as when the process dies).
   */
  async close(): Promise<void> {
    if (this.conn.isClosed) return;
    for (const w of [...this.watchers]) w.stop();
    this.held.clear();
    await this.conn.close();
  }
}

/** One keepalive on a lease, over the bidirectional keepalive stream; the TTL left (0: gone). */
export async function keepaliveOnce(c: Etcd3, id: string, timeout: number): Promise<number> {
  const stream = await c.leaseClient.leaseKeepAlive();
  try {
    return await deadline(
      new Promise<number>((resolve, reject) => {
      stream.on("data", (r: { TTL: string }) => resolve(Number(r.TTL)));
      stream.on("error", reject);
      stream.on("end", () => reject(new Error("keepalive stream ended")));
      stream.write({ ID: id });
      }),
      timeout,
      () => errors.gatewayTimeout(ID, "lease keepalive timed out"),
    );
  } finally {
    stream.end();
  }
}

/** Follows the prefix through an etcd watch (with previous values) and turns changes into events. */
class EtcdRegistryWatcher implements Watcher {
  readonly ready: Promise<void>;
  private readonly queue = new AsyncQueue<RegistryEvent>();
  private watcher: EtcdWatcher | undefined;
  private stopped = false;

  constructor(
    private readonly reg: EtcdRegistry,
    private readonly service: string | undefined,
    private readonly log: Logger | undefined,
    private readonly forget: (w: EtcdRegistryWatcher) => void,
  ) {
    this.ready = this.start();
    this.ready.catch((e: unknown) => {
      this.log?.error("registry: watch failed", { error: e });
      this.stop();
    });
  }

  private async start(): Promise<void> {
    const c = await this.reg.client();
    if (this.stopped) return;
    const w = await c.watch().prefix(this.reg.keyPrefix(this.service)).withPreviousKV().create();
    this.watcher = w;
    if (this.stopped) {
      void w.cancel().catch(() => undefined);
      return;
    }
    w.on("put", (kv, prev) => this.emit(prev && prev.value.length > 0 ? "update" : "create", kv));
    w.on("delete", (kv, prev) => this.emit("delete", prev ?? kv));
    w.on("error", (e) => this.log?.error("registry: watch error", { error: e }));
  }

  private emit(action: RegistryEvent["action"], kv: IKeyValue): void {
    if (this.stopped) return;
    let service = decodeRecord(kv.value);
    if (!service) {
      // A delete without the previous value (compacted): rebuild what the key says.
      const [name, id] = kv.key.toString().slice(this.reg.keyPrefix().length).split("/");
      if (!name || !id) return;
      service = { name, version: "", metadata: {}, endpoints: [], nodes: [{ id, address: "", metadata: {} }] };
    }
    if (this.service !== undefined && service.name !== this.service) return;
    this.queue.push({ action, service, timestamp: Date.now() });
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.watcher?.cancel().catch(() => undefined);
    this.queue.end();
    this.forget(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<RegistryEvent> {
    return this.queue[Symbol.asyncIterator]();
  }
}

/**
 * A Registry on etcd, interoperable with go-micro's etcd registry:
 * `new Service({ registry: etcdRegistry({ hosts: "127.0.0.1:2379" }) })`.
 */
export function etcdRegistry(opts: EtcdRegistryOptions = {}): EtcdRegistry {
  return new EtcdRegistry({ ...opts });
}
