/**
 * `natsRegistry`: the Registry on a JetStream key-value bucket.
 *
 * go-micro's NATS registry answers queries over subjects, so a service is only found while
 * some node answers. A KV bucket is simpler and keeps state across restarts: bucket
 * `micro-registry`, one key per node, `<service>.<node-id>` (both encoded by `encodeName`,
 * so names with dots or any other character fit KV's key alphabet), whose value is the
 * go-micro JSON record holding that one node, plus `expires` (ms since the epoch) when the
 * registration has a TTL.
 *
 * TTL: the server (2.9) has no per-key expiry and a bucket-wide max_age would also expire
 * nodes registered without a TTL, so expiry is enforced by readers: `getService` and
 * `listServices` skip expired entries (and delete them), and every watcher emits `delete`
 * at an entry's expiry time and deletes the key (guarded by its revision, so a renewal in
 * the meantime wins). A dead node thus disappears from reads at its expiry, within one TTL.
 * Expiry compares against this host's clock: keep clocks in sync (NTP), as with etcd leases
 * measured by clients.
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
import { StorageType, type KV, type KvEntry } from "nats";
import { Connector, natsError, type NatsConnectOptions } from "./connection.js";
import { encodeName } from "./names.js";
import { AsyncQueue } from "@micro-ts/micro";

const ID = "micro.registry.nats";

export interface NatsRegistryOptions extends NatsConnectOptions {
  /** The KV bucket holding the records. @default "micro-registry" */
  bucket?: string;
  /** TTL of a registration that sets none, in ms; 0 keeps it until deregistered. @default 0 */
  ttl?: number;
  /** Where the bucket keeps its data. @default "file" */
  storage?: "file" | "memory";
  /** Bucket replicas (in a cluster). @default 1 */
  replicas?: number;
  /** Timeout of KV requests, in ms. @default 5000 */
  requestTimeout?: number;
  /** Where background failures are reported. @default none */
  logger?: Logger;
}

const DEFAULTS = { bucket: "micro-registry", ttl: 0, storage: "file", replicas: 1, requestTimeout: 5000 } as const;

/** A stored value: a go-micro record with one node, and its expiry. */
interface Stored extends ServiceRecord {
  expires?: number;
}

function copy(s: ServiceRecord, node: Node): ServiceRecord {
  return {
    name: s.name,
    version: s.version || "latest",
    metadata: { ...s.metadata },
    endpoints: (s.endpoints ?? []).map((e) => ({ ...e, metadata: { ...e.metadata } })),
    nodes: [{ ...node, metadata: { ...node.metadata } }],
  };
}

function parse(e: KvEntry): Stored | undefined {
  if (e.operation !== "PUT") return undefined;
  try {
    const v = e.json<Stored>();
    if (!v || typeof v.name !== "string" || !Array.isArray(v.nodes) || !v.nodes[0]) return undefined;
    return v;
  } catch {
    return undefined;
  }
}

const live = (s: Stored, now = Date.now()): boolean => !s.expires || s.expires > now;

function strip(s: Stored): ServiceRecord {
  return copy(s, s.nodes[0]!);
}

/** Merges one-node records into one record per name and version. */
function merge(list: Stored[]): ServiceRecord[] {
  const out = new Map<string, ServiceRecord>();
  for (const s of list) {
    const k = `${s.name}\u0000${s.version}`;
    const r = out.get(k);
    if (r) r.nodes.push(...strip(s).nodes);
    else out.set(k, strip(s));
  }
  return [...out.values()];
}

export class NatsRegistry implements Registry {
  readonly name = "nats";
  private readonly conn: Connector;
  private readonly opts: Required<Omit<NatsRegistryOptions, keyof NatsConnectOptions | "logger">> & { logger?: Logger };
  private kvP: Promise<KV> | undefined;
  private readonly watchers = new Set<NatsWatcher>();
  /** Watchers being set up: a register/deregister waits for them, so they see it as a change. */
  private readonly settingUp = new Set<Promise<unknown>>();

  constructor(o: NatsRegistryOptions = {}) {
    this.conn = new Connector(ID, o);
    const opts = {
      bucket: o.bucket ?? DEFAULTS.bucket,
      ttl: o.ttl ?? DEFAULTS.ttl,
      storage: o.storage ?? DEFAULTS.storage,
      replicas: o.replicas ?? DEFAULTS.replicas,
      requestTimeout: o.requestTimeout ?? DEFAULTS.requestTimeout,
      logger: o.logger,
    };
    if (!/^[A-Za-z0-9_-]+$/.test(opts.bucket)) throw errors.badRequest(ID, "bucket may hold only [A-Za-z0-9_-]");
    if (!(opts.ttl >= 0)) throw errors.badRequest(ID, "ttl must be >= 0");
    this.opts = Object.freeze(opts);
  }

  kv(): Promise<KV> {
    this.kvP ??= (async () => {
      const nc = await this.conn.get();
      try {
        const js = nc.jetstream({ timeout: this.opts.requestTimeout });
        return await js.views.kv(this.opts.bucket, {
          history: 1,
          replicas: this.opts.replicas,
          storage: this.opts.storage === "memory" ? StorageType.Memory : StorageType.File,
          timeout: this.opts.requestTimeout,
        });
      } catch (e) {
        throw natsError(ID, `opening KV bucket ${this.opts.bucket}`, e);
      }
    })().catch((e: unknown) => {
      this.kvP = undefined;
      throw e;
    });
    return this.kvP;
  }

  private static key(service: string, node: string): string {
    return `${encodeName(service)}.${encodeName(node)}`;
  }

  private async barrier(): Promise<void> {
    if (this.settingUp.size > 0) await Promise.allSettled([...this.settingUp]);
  }

  async register(s: ServiceRecord, o: RegisterOptions = {}): Promise<void> {
    this.conn.check();
    if (!s || typeof s.name !== "string" || s.name === "") throw errors.badRequest(ID, "service name is empty");
    const ttl = o.ttl ?? this.opts.ttl;
    if (!(ttl >= 0)) throw errors.badRequest(ID, "ttl must be >= 0");
    const kv = await this.kv();
    await this.barrier();
    try {
      await Promise.all(
        (s.nodes ?? []).map((n) => {
          const v: Stored = copy(s, n);
          if (ttl > 0) v.expires = Date.now() + ttl;
          return kv.put(NatsRegistry.key(s.name, n.id), JSON.stringify(v));
        }),
      );
    } catch (e) {
      throw natsError(ID, `register ${s.name}`, e);
    }
  }

  async deregister(s: ServiceRecord): Promise<void> {
    this.conn.check();
    const kv = await this.kv();
    await this.barrier();
    try {
      await Promise.all((s.nodes ?? []).map((n) => kv.delete(NatsRegistry.key(s.name, n.id))));
    } catch (e) {
      throw natsError(ID, `deregister ${s.name}`, e);
    }
  }

  /** The live entries under a key filter; expired ones found on the way are deleted. */
  private async entries(filter: string): Promise<Stored[]> {
    const kv = await this.kv();
    try {
      const keys: string[] = [];
      for await (const k of await kv.keys(filter)) keys.push(k);
      const got = await Promise.all(keys.map((k) => kv.get(k)));
      const out: Stored[] = [];
      const now = Date.now();
      for (const e of got) {
        const v = e ? parse(e) : undefined;
        if (!e || !v) continue;
        if (live(v, now)) out.push(v);
        else void kv.delete(e.key, { previousSeq: e.revision }).catch(() => undefined);
      }
      return out;
    } catch (e) {
      throw natsError(ID, "reading the registry", e);
    }
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    this.conn.check();
    const list = await this.entries(`${encodeName(name)}.*`);
    if (list.length === 0) throw errors.notFound(ID, `service ${name} not found`);
    return merge(list);
  }

  async listServices(): Promise<ServiceRecord[]> {
    this.conn.check();
    return merge(await this.entries(">"));
  }

  watch(o: RegistryWatchOptions = {}): Watcher {
    this.conn.check();
    const w = new NatsWatcher(this, o.service, this.opts.logger, (x) => this.watchers.delete(x));
    this.watchers.add(w);
    const ready = w.ready.catch(() => undefined);
    this.settingUp.add(ready);
    void ready.then(() => this.settingUp.delete(ready));
    return w;
  }

  async close(): Promise<void> {
    if (this.conn.isClosed) return;
    for (const w of [...this.watchers]) w.stop();
    await this.conn.close();
  }
}

interface Known {
  record: Stored;
  revision: number;
  timer: NodeJS.Timeout | undefined;
}

/** Follows the bucket through a KV watcher and turns entries into registry events. */
class NatsWatcher implements Watcher {
  readonly ready: Promise<void>;
  private readonly queue = new AsyncQueue<RegistryEvent>();
  private readonly known = new Map<string, Known>();
  private stopFn: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly reg: NatsRegistry,
    private readonly service: string | undefined,
    private readonly log: Logger | undefined,
    private readonly forget: (w: NatsWatcher) => void,
  ) {
    this.ready = this.start();
    this.ready.catch((e: unknown) => {
      this.log?.error("registry: watch failed", { error: e });
      this.stop();
    });
  }

  private async start(): Promise<void> {
    const kv = await this.reg.kv();
    // Entries up to this revision are the state at watch time: learned, not reported.
    const since = (await kv.status()).streamInfo.state.last_seq;
    if (this.stopped) return;
    const it = await kv.watch({ key: this.service === undefined ? ">" : `${encodeName(this.service)}.*` });
    this.stopFn = () => it.stop();
    if (this.stopped) return it.stop();
    void (async () => {
      for await (const e of it) this.apply(e, e.revision > since);
    })().catch((err: unknown) => this.log?.error("registry: watch ended", { error: err }));
  }

  private emit(action: RegistryEvent["action"], record: Stored): void {
    this.queue.push({ action, service: strip(record), timestamp: Date.now() });
  }

  private apply(e: KvEntry, report: boolean): void {
    if (this.stopped) return;
    const prev = this.known.get(e.key);
    const v = parse(e);
    if (prev) clearTimeout(prev.timer);
    if (!v || !live(v)) {
      // Deleted, purged or already expired: report the node that went away, once.
      if (prev) {
        this.known.delete(e.key);
        if (report) this.emit("delete", prev.record);
      }
      return;
    }
    const k: Known = { record: v, revision: e.revision, timer: undefined };
    if (v.expires) k.timer = setTimeout(() => this.expire(e.key, k), Math.max(0, v.expires - Date.now()));
    this.known.set(e.key, k);
    if (report) this.emit(prev ? "update" : "create", v);
  }

  private expire(key: string, k: Known): void {
    if (this.stopped || this.known.get(key) !== k) return;
    this.known.delete(key);
    this.emit("delete", k.record);
    // Remove the dead entry for everyone, unless it was renewed meanwhile.
    void this.reg
      .kv()
      .then((kv) => kv.delete(key, { previousSeq: k.revision }))
      .catch(() => undefined);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopFn?.();
    for (const k of this.known.values()) clearTimeout(k.timer);
    this.known.clear();
    this.queue.end();
    this.forget(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<RegistryEvent> {
    return this.queue[Symbol.asyncIterator]();
  }
}

/**
 * A Registry on a NATS JetStream KV bucket:
 * `new Service({ registry: natsRegistry({ servers: "127.0.0.1:4222" }) })`.
 */
export function natsRegistry(opts: NatsRegistryOptions = {}): NatsRegistry {
  return new NatsRegistry({ ...opts });
}
