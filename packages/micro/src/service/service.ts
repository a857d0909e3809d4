/**
 * The Service: a server, a client, a registry entry and a broker, wired together.
 *
 *   const service = new Service({ name: "greeter" });
 *   service.handle(new Greeter());
 *   await service.run();
 */
import { randomUUID } from "node:crypto";
import type { Broker, Subscriber } from "../broker/broker.js";
import { RpcClient } from "../client/rpc.js";
import type { CallOptions, ClientMiddleware, PublishOptions } from "../client/client.js";
import { Codecs, type Codec } from "../codec/codec.js";
import { normalizeMetadata, runWithContext, type Context } from "../context/context.js";
import { createLogger, type Logger } from "../logger/logger.js";
import { CacheRegistry } from "../registry/cache.js";
import type { Registry, ServiceRecord } from "../registry/registry.js";
import type { Selector } from "../selector/selector.js";
import type { HandleOptions } from "../server/handler.js";
import { RpcServer } from "../server/rpc.js";
import type { ServerMiddleware } from "../server/server.js";
import { HEADERS, type Transport } from "../transport/transport.js";
import type { Config } from "../config/config.js";
import type { Events } from "../events/events.js";
import type { Store } from "../store/store.js";
import { storeSync } from "../sync/store.js";
import type { Sync } from "../sync/sync.js";
// --- auth (issue 5) ---
import { installServiceAuth, type ServiceAuthOptions } from "../auth/middleware.js";
// --- end auth ---
// --- debug (issue 7) ---
import { ServiceDebug } from "../debug/service-debug.js";
import type { DebugOptions } from "../debug/debug.js";
import { isDebugEndpoint } from "../debug/trace.js";
// --- end debug ---
import {
  defaultBroker,
  defaultConfig,
  defaultEvents,
  defaultRegistry,
  defaultSelector,
  defaultStore,
  serverCredentials,
  serverLogin,
  defaultTransport,
  envNumber,
  isSharedDefault,
} from "./defaults.js";

export interface ServiceOptions {
  /** The service name other services call, e.g. "greeter". */
  name: string;
  /** @default "latest" */
  version?: string;
  metadata?: Record<string, string>;
  /** Where the server listens. @default MICRO_SERVER_ADDRESS or "127.0.0.1:0" */
  address?: string;
  /** The address put in the registry, when it differs from the bound one (NAT, containers). */
  advertise?: string;
  /** @default mdns (MICRO_REGISTRY) */
  registry?: Registry;
  /** @default tcp (MICRO_TRANSPORT) */
  transport?: Transport;
  /** @default the HTTP broker on the registry (MICRO_BROKER) */
  broker?: Broker;
  /** @default random (MICRO_SELECTOR=round-robin for round-robin) */
  selector?: Selector;
  /** Extra codecs; JSON and bytes are always there. */
  codecs?: Codec[];
  logger?: Logger;
  /** How long a registration lives without renewal, in ms. @default 30000 (MICRO_REGISTER_TTL, seconds) */
  registerTTL?: number;
  /** How often the registration is renewed, in ms. @default registerTTL / 3 (MICRO_REGISTER_INTERVAL, seconds) */
  registerInterval?: number;
  /** How long stop() waits for in-flight calls, in ms. @default 10000 */
  drainTimeout?: number;
  /** Defaults for outgoing calls. */
  callDefaults?: { timeout?: number; retries?: number };
  /** @default the file store, table = service name (MICRO_STORE; the server's store with MICRO_SERVER) */
  store?: Store;
  /** @default the file event log (MICRO_EVENTS; the server's events with MICRO_SERVER) */
  events?: Events;
  /** @default env (MICRO_CONFIG_*), over the server's config document with MICRO_SERVER */
  config?: Config;
  /** @default store-backed locks and leaders on `store` */
  sync?: Sync;
  // --- auth (issue 5) ---
  /**
   * Turns auth on: incoming calls need a token the rules accept (verified locally with the
   * auth's public keys), outgoing calls carry the service account's token. @default off
   */
  auth?: ServiceAuthOptions;
  // --- end auth ---
  // --- debug (issue 7) ---
  /**
   * The Debug handler (Debug.Log, Debug.Logs, Debug.Stats, Debug.Health, Debug.Trace), request
   * stats and tracing; `false` turns all of it off. @default on
   */
  debug?: boolean | DebugOptions;
  // --- end debug ---
}

/** What a subscriber's handler receives besides the payload. */
export interface MessageInfo {
  topic: string;
  /** The message's headers (lower-case). */
  metadata: Record<string, string>;
}

export type MessageHandler<T = unknown> = (payload: T, info: MessageInfo) => unknown;

export class Service {
  readonly name: string;
  readonly version: string;
  /** This process's node id, unique per run. */
  readonly id: string;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly transport: Transport;
  readonly broker: Broker;
  readonly client: RpcClient;
  readonly server: RpcServer;
  // --- debug (issue 7) ---
  /** Stats, spans and health checks (`service.debug?.check(name, fn)`); undefined with `debug: false`. */
  readonly debug: ServiceDebug | undefined;
  // --- end debug ---
  private readonly codecs: Codecs;
  private readonly opts: ServiceOptions;
  private readonly owned: {
    registry?: Registry;
    broker?: Broker;
    store?: Store;
    events?: Promise<Events>;
    config?: Promise<Config>;
    sync?: Sync;
  } = {};
  private readonly ttl: number;
  private readonly interval: number;
  private readonly subs: { topic: string; fn: MessageHandler; queue: string | undefined }[] = [];
  private readonly live: Subscriber[] = [];
  private timer: NodeJS.Timeout | undefined;
  private record: ServiceRecord | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private markStopped!: () => void;
  private readonly stopped = new Promise<void>((resolve) => (this.markStopped = resolve));

  constructor(opts: ServiceOptions) {
    if (!opts.name || typeof opts.name !== "string") throw new TypeError("a service needs a name");
    this.opts = { ...opts };
    this.name = opts.name;
    this.version = opts.version ?? "latest";
    this.id = `${opts.name}-${randomUUID()}`;
    this.logger = opts.logger ?? createLogger({ fields: { service: opts.name } });
    // What the service creates it closes on stop; what it is given, the giver closes.
    const inner = opts.registry ?? (this.owned.registry = defaultRegistry(this.logger));
    this.registry = new CacheRegistry(inner);
    this.transport = opts.transport ?? defaultTransport(this.logger);
    this.broker = opts.broker ?? (this.owned.broker = defaultBroker(this.registry, this.logger));
    // --- debug (issue 7) ---
    this.debug =
      opts.debug === false
        ? undefined
        : new ServiceDebug({ ...(opts.debug === true ? {} : opts.debug), service: this.name, version: this.version, id: this.id, logger: this.logger });
    if (this.debug) this.broker = this.debug.wrapBroker(this.broker);
    // --- end debug ---
    this.codecs = new Codecs(opts.codecs);
    this.ttl = opts.registerTTL ?? envNumber("MICRO_REGISTER_TTL", 1000) ?? 30_000;
    this.interval = opts.registerInterval ?? envNumber("MICRO_REGISTER_INTERVAL", 1000) ?? Math.max(100, Math.floor(this.ttl / 3));
    const address = opts.address ?? process.env["MICRO_SERVER_ADDRESS"] ?? "127.0.0.1:0";
    this.server = new RpcServer({ name: this.name, transport: this.transport, address, codecs: this.codecs, logger: this.logger });
    this.client = new RpcClient({
      registry: this.registry,
      transport: this.transport,
      selector: opts.selector ?? defaultSelector(),
      broker: this.broker,
      codecs: this.codecs,
      ...(opts.callDefaults ? { callDefaults: opts.callDefaults } : {}),
      ...(process.env["MICRO_PROXY"] ? { proxy: process.env["MICRO_PROXY"] } : {}),
    });
    // --- debug (issue 7): before auth, so refused calls are counted and traced too ---
    this.debug?.install(this.server, this.client);
    // --- end debug ---
    // --- auth (issue 5) ---
    if (opts.auth) installServiceAuth(this, opts.auth);
    else {
      // Started by a `micro server` with auth on: incoming calls need a token the server's rules
      // accept (verified locally with its public keys), outgoing calls carry the service account's.
      const login = serverLogin();
      const creds = serverCredentials();
      if (login && creds) installServiceAuth(this, { auth: login.auth, credentials: creds });
    }
    // --- end auth ---
  }

  /** The service's store, created on first use (scoped to table = the service name); closed on stop if created here. */
  get store(): Store {
    return this.opts.store ?? (this.owned.store ??= defaultStore(this.name, this.logger));
  }

  /** Locks and leader election, created on first use on `store`. */
  get sync(): Sync {
    return this.opts.sync ?? (this.owned.sync ??= storeSync({ store: this.store }));
  }

  /** The durable event streams, opened on first use (the file log opens asynchronously). */
  get events(): Promise<Events> {
    if (this.opts.events) return Promise.resolve(this.opts.events);
    return (this.owned.events ??= defaultEvents(this.logger));
  }

  /** The service's config, loaded on first use (its sources are read asynchronously). */
  get config(): Promise<Config> {
    if (this.opts.config) return Promise.resolve(this.opts.config);
    return (this.owned.config ??= defaultConfig(this.logger));
  }

  /** Adds a handler object's methods as endpoints (`Greeter.Hello`). */
  handle(handler: object, o?: HandleOptions): this {
    this.server.handle(handler, o);
    return this;
  }

  /** Server middleware, run around every handled call. */
  use(mw: ServerMiddleware): this {
    this.server.use(mw);
    return this;
  }

  /** Client middleware, run around every outgoing call. */
  useClient(mw: ClientMiddleware): this {
    this.client.use(mw);
    return this;
  }

  /**
   * Handles messages published to `topic`. With a queue, each message goes to one
   * subscriber of the group; without, to every subscriber. Live once start() resolves.
   */
  subscribe<T = unknown>(topic: string, fn: MessageHandler<T>, o: { queue?: string } = {}): this {
    const sub = { topic, fn: fn as MessageHandler, queue: o.queue };
    this.subs.push(sub);
    if (this.started) void this.startSub(sub);
    return this;
  }

  publish(topic: string, msg: unknown, o?: PublishOptions): Promise<void> {
    return this.client.publish(topic, msg, o);
  }

  /** Shorthand for `service.client.call`. */
  call<T = unknown>(service: string, endpoint: string, req: unknown, o?: CallOptions): Promise<T> {
    return this.client.call<T>(service, endpoint, req, o);
  }

  /** Listens, subscribes, registers and starts renewing the registration. */
  async start(): Promise<void> {
    if (this.started) return;
    const bound = await this.server.start();
    this.started = true;
    // --- debug (issue 7) ---
    await this.debug?.start();
    // --- end debug ---
    for (const s of this.subs) await this.startSub(s);
    this.record = {
      name: this.name,
      version: this.version,
      metadata: { ...(this.opts.metadata ?? {}) },
      // --- debug (issue 7): Debug.* is on every service, so the record lists only the service's own ---
      endpoints: this.debug ? this.server.endpoints().filter((e) => !isDebugEndpoint(e.name)) : this.server.endpoints(),
      // --- end debug ---
      nodes: [
        {
          id: this.id,
          address: this.opts.advertise ?? bound,
          metadata: {
            transport: this.transport.name,
            broker: this.broker.name,
            registry: this.registry.name,
            protocol: "mucp",
            server: "micro-ts",
            // --- debug (issue 7) ---
            ...(this.debug?.metricsAddress ? { metrics: this.debug.metricsAddress } : {}),
            // --- end debug ---
          },
        },
      ],
    };
    await this.registry.register(this.record, { ttl: this.ttl });
    this.timer = setInterval(() => {
      this.registry.register(this.record!, { ttl: this.ttl }).catch((e: unknown) => {
        this.logger.warn("re-register failed", { error: e instanceof Error ? e.message : String(e) });
      });
    }, this.interval);
    this.timer.unref();
    this.logger.info("service started", { address: bound, id: this.id, transport: this.transport.name, registry: this.registry.name });
  }

  /** Deregisters, drains in-flight calls, closes everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.record) {
      await this.registry.deregister(this.record).catch((e: unknown) => {
        this.logger.warn("deregister failed", { error: e instanceof Error ? e.message : String(e) });
      });
    }
    await Promise.all(this.live.splice(0).map((s) => s.unsubscribe().catch(() => {})));
    // --- debug (issue 7): ends log followers, which would otherwise hold up the drain ---
    await this.debug?.stop();
    // --- end debug ---
    await this.server.stop({ drainTimeout: this.opts.drainTimeout ?? 10_000 });
    await this.client.close();
    const { broker, registry, store, events, config, sync } = this.owned;
    // State created on first use: sync before the store it lives on.
    if (sync) await sync.close().catch(() => {});
    if (store) await store.close().catch(() => {});
    if (events) await events.then((e) => e.close()).catch(() => {});
    if (config) await config.then((c) => c.close()).catch(() => {});
    if (broker && !isSharedDefault(broker)) await broker.close();
    await this.registry.close();
    if (registry && !isSharedDefault(registry)) await registry.close();
    if (this.started) this.logger.info("service stopped", { id: this.id });
    this.markStopped();
  }

  /**
   * start(), then wait for SIGINT/SIGTERM: deregister, drain, exit 0. Resolves when the
   * service has stopped (after a signal or a call to stop()).
   */
  async run(): Promise<void> {
    await this.start();
    await new Promise<void>((resolve) => {
      const onSignal = (sig: NodeJS.Signals) => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        this.logger.info("signal received, stopping", { signal: sig });
        this.stop().then(
          () => {
            resolve();
            process.exit(0);
          },
          (e: unknown) => {
            this.logger.error("stop failed", { error: String(e) });
            process.exit(1);
          },
        );
      };
      process.on("SIGINT", onSignal);
      process.on("SIGTERM", onSignal);
      void this.stopped.then(() => {
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        resolve();
      });
    });
  }

  private async startSub(s: { topic: string; fn: MessageHandler; queue: string | undefined }): Promise<void> {
    const sub = await this.broker.subscribe(
      s.topic,
      async (ev) => {
        const codec = this.codecs.get(ev.header[HEADERS.contentType]) ?? this.codecs.default;
        const metadata = normalizeMetadata(ev.header);
        const ctx: Context = { metadata, signal: new AbortController().signal, service: this.name, endpoint: s.topic };
        try {
          const payload = codec.decode(ev.body);
          await runWithContext(ctx, () => s.fn(payload, { topic: ev.topic, metadata }));
        } catch (e) {
          this.logger.error("subscriber failed", { topic: s.topic, error: e instanceof Error ? e.message : String(e) });
          throw e;
        }
      },
      s.queue !== undefined ? { queue: s.queue } : {},
    );
    this.live.push(sub);
  }
}
