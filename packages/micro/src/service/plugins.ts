/**
 * Plugins chosen by name in the environment (MICRO_REGISTRY=etcd, MICRO_BROKER=nats,
 * MICRO_STORE=postgres, ...). The core cannot import plugins statically (it has no
 * dependencies), so a named plugin is loaded with a dynamic import on first use, behind a
 * wrapper that *is* the interface. A plugin that is not installed fails with a one-line
 * error naming the `npm install` to run.
 */
import type { Broker, BrokerHandler, BrokerMessage, PublishOptions, SubscribeOptions, Subscriber } from "../broker/broker.js";
import { MicroError } from "../errors/errors.js";
import type { Events } from "../events/events.js";
import type { RegisterOptions, Registry, RegistryEvent, ServiceRecord, Watcher, WatchOptions } from "../registry/registry.js";
import type { DeleteOptions, ListOptions, ReadOptions, Store, StoreRecord, WriteOptions } from "../store/store.js";
import type { Connection, DialOptions, Handler, Listener, Transport } from "../transport/transport.js";
import { AsyncQueue } from "../util/watcher.js";

export interface PluginSpec {
  /** The npm package. */
  pkg: string;
  /** The factory exported by the package. */
  factory: string;
  /** Factory options from the `*_ADDRESS` variable (and the service name for stores). */
  options: (address: string | undefined, table: string) => Record<string, unknown>;
}

type Kind = "registry" | "broker" | "store" | "events" | "transport";

const url = (scheme: string, def: string) => (a: string | undefined) => ({ url: a ? (a.includes("://") ? a : `${scheme}://${a}`) : def });
const nats = (a: string | undefined) => ({ servers: a ?? "127.0.0.1:4222" });

/** The one map from plugin names to packages and factories. */
export const PLUGINS: Record<Kind, Record<string, PluginSpec>> = {
  registry: {
    etcd: { pkg: "@micro-ts/etcd", factory: "etcdRegistry", options: (a) => (a ? { hosts: a.split(",") } : {}) },
    nats: { pkg: "@micro-ts/nats", factory: "natsRegistry", options: nats },
  },
  broker: {
    nats: { pkg: "@micro-ts/nats", factory: "natsBroker", options: nats },
    redis: { pkg: "@micro-ts/redis", factory: "redisBroker", options: url("redis", "redis://127.0.0.1:6379") },
    rabbitmq: { pkg: "@micro-ts/rabbitmq", factory: "rabbitmqBroker", options: url("amqp", "amqp://guest:guest@127.0.0.1:5672") },
    mqtt: { pkg: "@micro-ts/mqtt", factory: "mqttBroker", options: url("mqtt", "mqtt://127.0.0.1:1883") },
  },
  store: {
    postgres: { pkg: "@micro-ts/postgres", factory: "postgresStore", options: (a, table) => ({ ...url("postgres", "postgres://127.0.0.1:5432/micro")(a), table }) },
    redis: { pkg: "@micro-ts/redis", factory: "redisStore", options: (a, table) => ({ ...url("redis", "redis://127.0.0.1:6379")(a), table }) },
  },
  transport: {
    nats: { pkg: "@micro-ts/nats", factory: "natsTransport", options: nats },
  },
  events: {
    nats: { pkg: "@micro-ts/nats", factory: "natsEvents", options: nats },
    redis: { pkg: "@micro-ts/redis", factory: "redisEvents", options: url("redis", "redis://127.0.0.1:6379") },
    postgres: { pkg: "@micro-ts/postgres", factory: "postgresEvents", options: url("postgres", "postgres://127.0.0.1:5432/micro") },
  },
};

/** How packages are imported; replaceable in tests. */
export type Importer = (pkg: string) => Promise<Record<string, unknown>>;
const defaultImporter: Importer = (pkg) => import(pkg) as Promise<Record<string, unknown>>;

/** Loads a plugin and calls its factory. Rejects with a 500 MicroError naming `npm install PKG` when it is missing. */
export async function loadPlugin<T>(kind: Kind, name: string, address: string | undefined, table = "default", importer: Importer = defaultImporter): Promise<T> {
  const spec = PLUGINS[kind][name];
  if (!spec) throw new MicroError("micro.plugins", `no ${kind} plugin named "${name}"; known: ${Object.keys(PLUGINS[kind]).join(", ")}`, 400);
  let mod: Record<string, unknown>;
  try {
    mod = await importer(spec.pkg);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") {
      throw new MicroError("micro.plugins", `${kind} "${name}" needs the plugin ${spec.pkg}: run \`npm install ${spec.pkg}\``, 500, { cause: e });
    }
    throw e;
  }
  const factory = mod[spec.factory];
  if (typeof factory !== "function") throw new MicroError("micro.plugins", `${spec.pkg} does not export ${spec.factory}`, 500);
  return (await (factory as (o: Record<string, unknown>) => T | Promise<T>)(spec.options(address, table))) as T;
}

/** A Registry that loads its implementation on first use. */
export class LazyRegistry implements Registry {
  private loaded: Promise<Registry> | undefined;
  constructor(
    readonly name: string,
    private readonly load: () => Promise<Registry>,
  ) {}
  private get r(): Promise<Registry> {
    return (this.loaded ??= this.load());
  }
  async register(s: ServiceRecord, o?: RegisterOptions): Promise<void> {
    return (await this.r).register(s, o);
  }
  async deregister(s: ServiceRecord): Promise<void> {
    return (await this.r).deregister(s);
  }
  async getService(name: string): Promise<ServiceRecord[]> {
    return (await this.r).getService(name);
  }
  async listServices(): Promise<ServiceRecord[]> {
    return (await this.r).listServices();
  }
  watch(o?: WatchOptions): Watcher {
    let inner: Watcher | undefined;
    const q = new AsyncQueue<RegistryEvent>(() => inner?.stop());
    this.r.then(
      async (r) => {
        if (q.ended) return;
        inner = r.watch(o);
        try {
          for await (const ev of inner) q.push(ev);
          q.end();
        } catch (e) {
          q.end(e);
        }
      },
      (e: unknown) => q.end(e),
    );
    return Object.assign(q, { stop: () => q.end() }) as unknown as Watcher;
  }
  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded.catch(() => undefined))?.close();
  }
}

/** A Broker that loads its implementation on first use. */
export class LazyBroker implements Broker {
  private loaded: Promise<Broker> | undefined;
  constructor(
    readonly name: string,
    private readonly load: () => Promise<Broker>,
  ) {}
  private get b(): Promise<Broker> {
    return (this.loaded ??= this.load());
  }
  async connect(): Promise<void> {
    return (await this.b).connect();
  }
  async publish(topic: string, msg: BrokerMessage, o?: PublishOptions): Promise<void> {
    return (await this.b).publish(topic, msg, o);
  }
  async subscribe(topic: string, handler: BrokerHandler, o?: SubscribeOptions): Promise<Subscriber> {
    return (await this.b).subscribe(topic, handler, o);
  }
  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded.catch(() => undefined))?.close();
  }
}

/** A Store that loads its implementation on first use. */
export class LazyStore implements Store {
  private loaded: Promise<Store> | undefined;
  constructor(private readonly load: () => Promise<Store>) {}
  private get s(): Promise<Store> {
    return (this.loaded ??= this.load());
  }
  async read(key: string, o?: ReadOptions): Promise<StoreRecord[]> {
    return (await this.s).read(key, o);
  }
  async write(rec: StoreRecord, o?: WriteOptions): Promise<void> {
    return (await this.s).write(rec, o);
  }
  async delete(key: string, o?: DeleteOptions): Promise<void> {
    return (await this.s).delete(key, o);
  }
  async list(o?: ListOptions): Promise<string[]> {
    return (await this.s).list(o);
  }
  async databases(): Promise<string[]> {
    return (await this.s).databases();
  }
  async tables(database: string): Promise<string[]> {
    return (await this.s).tables(database);
  }
  async close(): Promise<void> {
    if (this.loaded) await (await this.loaded.catch(() => undefined))?.close();
  }
}

/** A Transport that loads its implementation on first use. */
export class LazyTransport implements Transport {
  private loaded: Promise<Transport> | undefined;
  constructor(
    readonly name: string,
    private readonly load: () => Promise<Transport>,
  ) {}
  private get t(): Promise<Transport> {
    return (this.loaded ??= this.load());
  }
  async listen(address: string, handler: Handler): Promise<Listener> {
    return (await this.t).listen(address, handler);
  }
  async dial(address: string, o?: DialOptions): Promise<Connection> {
    return (await this.t).dial(address, o);
  }
}

export type { Events };
