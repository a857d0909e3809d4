import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import { badRequest, MicroError, serviceUnavailable } from "../errors/errors.js";
import { silentLogger, type Logger } from "../logger/logger.js";
import type { Registry, ServiceRecord, Watcher } from "../registry/registry.js";
import type {
  Broker,
  BrokerHandler,
  BrokerMessage,
  PublishOptions,
  SubscribeOptions,
  Subscriber,
} from "./broker.js";
import { invoke, shuffled } from "./dispatch.js";
import { post, type Target } from "./http-client.js";
import {
  BROADCAST_VERSION,
  decodeEnvelope,
  encodeEnvelope,
  HTTP_BROKER_SERVICE,
  joinHostPort,
  splitHostPort,
  TOPIC_HEADER,
} from "./http-wire.js";

export interface HttpBrokerOptions {
  /** Where subscriptions are registered and looked up. Share it to share topics. */
  registry: Registry;
  /** host:port the subscriber server binds (only started once something subscribes). @default "127.0.0.1:0" */
  address?: string;
  /** @default silentLogger() */
  logger?: Logger;
  /** Largest request body a subscriber accepts; bigger ones get 413. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /** TTL of each subscription's registration, in ms. @default 60000 */
  registerTTL?: number;
  /** How often registrations are renewed, in ms. @default 30000 */
  registerInterval?: number;
  /** How long a lookup is trusted when no registry event arrives, in ms. @default 30000 */
  cacheTTL?: number;
  /** How long one delivery may take (the subscriber answers after its handler ran), in ms. @default 30000 */
  publishTimeout?: number;
}

const DEFAULTS = {
  address: "127.0.0.1:0",
  maxBodyBytes: 1024 * 1024,
  registerTTL: 60_000,
  registerInterval: 30_000,
  cacheTTL: 30_000,
  publishTimeout: 30_000,
} as const;

const ID = "broker.http";

interface Sub extends Subscriber {
  readonly handler: BrokerHandler;
  readonly record: ServiceRecord;
  active: boolean;
}

/**
 * go-micro's HTTP broker: no broker server. Every broker with subscriptions runs a small
 * HTTP server and registers each subscription as a node of the service `micro.http.broker`
 * (version: the queue group, or `ff.http.broadcast` for fan-out; node metadata carries the
 * topic). Publishers look subscribers up in the registry (cached, refreshed by a watch) and
 * POST the message to every fan-out node and to one node per queue group, trying another
 * member of the group when one is gone. A subscriber answers once its handler has run, so
 * publish resolving means every target handled the message (handler errors are logged there).
 */
export class HttpBroker implements Broker {
  readonly name = "http";
  private readonly id = `${HTTP_BROKER_SERVICE}-${randomUUID()}`;
  private readonly opts: Required<Omit<HttpBrokerOptions, "logger">>;
  private readonly logger: Logger;
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly subs = new Map<string, Sub>();
  private seq = 0;
  private server: http.Server | undefined;
  private listening: Promise<string> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private watcher: Watcher | undefined;
  private cache: { records: ServiceRecord[]; expires: number } | undefined;
  private generation = 0;
  private closing: Promise<void> | undefined;

  constructor(opts: HttpBrokerOptions) {
    const o = { ...DEFAULTS, ...opts };
    if (!o.registry) throw badRequest(ID, "httpBroker needs a registry");
    splitHostPort(o.address);
    for (const k of ["maxBodyBytes", "registerTTL", "registerInterval", "cacheTTL", "publishTimeout"] as const) {
      if (!Number.isFinite(o[k]) || o[k] <= 0) throw badRequest(ID, `${k} must be a positive number`);
    }
    this.logger = (opts.logger ?? silentLogger()).with({ broker: "http" });
    this.opts = Object.freeze({
      registry: o.registry,
      address: o.address,
      maxBodyBytes: o.maxBodyBytes,
      registerTTL: o.registerTTL,
      registerInterval: o.registerInterval,
      cacheTTL: o.cacheTTL,
      publishTimeout: o.publishTimeout,
    });
  }

  async connect(): Promise<void> {
    this.assertOpen();
  }

  async publish(topic: string, msg: BrokerMessage, o: PublishOptions = {}): Promise<void> {
    this.assertOpen();
    o.signal?.throwIfAborted();
    const payload = encodeEnvelope(topic, msg);
    const fanout: Target[] = [];
    const groups = new Map<string, Target[]>();
    for (const rec of await this.lookup()) {
      for (const n of rec.nodes) {
        if (n.metadata?.["topic"] !== topic) continue;
        if (rec.version === BROADCAST_VERSION) fanout.push(n);
        else {
          const members = groups.get(rec.version);
          if (members) members.push(n);
          else groups.set(rec.version, [n]);
        }
      }
    }
    const jobs = fanout.map((n) => this.deliver([n], topic, msg, payload, o.signal));
    for (const members of groups.values()) jobs.push(this.deliver(shuffled(members), topic, msg, payload, o.signal));
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === "rejected");
    if (failed) throw MicroError.from(failed.reason, ID);
  }

  async subscribe(topic: string, handler: BrokerHandler, o: SubscribeOptions = {}): Promise<Subscriber> {
    this.assertOpen();
    if (!topic) throw badRequest(ID, "topic is required");
    const address = await this.listen();
    this.assertOpen();
    const queue = o.queue || undefined;
    const nodeId = `${this.id}-${++this.seq}`;
    const metadata: Record<string, string> = { broker: "http", topic, secure: "false" };
    if (queue) metadata["queue"] = queue;
    const record: ServiceRecord = {
      name: HTTP_BROKER_SERVICE,
      version: queue ?? BROADCAST_VERSION,
      metadata: {},
      endpoints: [],
      nodes: [{ id: nodeId, address, metadata }],
    };
    const sub: Sub = {
      topic,
      queue,
      handler,
      record,
      active: true,
      unsubscribe: async () => {
        if (!sub.active) return;
        sub.active = false;
        this.subs.delete(nodeId);
        await this.opts.registry.deregister(record).catch((err: unknown) => {
          this.logger.warn("deregistering subscription failed", { topic, error: err });
        });
      },
    };
    // Before registering, so a publisher that sees the record finds the subscription.
    this.subs.set(nodeId, sub);
    try {
      await this.opts.registry.register(record, { ttl: this.opts.registerTTL });
    } catch (err) {
      this.subs.delete(nodeId);
      throw err;
    }
    this.startRenewing();
    return sub;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.renewTimer);
    this.watcher?.stop();
    const subs = [...this.subs.values()];
    this.subs.clear();
    for (const s of subs) s.active = false;
    await Promise.allSettled(subs.map((s) => this.opts.registry.deregister(s.record)));
    await this.listening?.catch(() => undefined);
    const server = this.server;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    this.agent.destroy();
  }

  private assertOpen(): void {
    if (this.closing) throw serviceUnavailable(ID, "broker is closed");
  }

  /** Delivers to the first member that takes the message; a gone member is skipped. */
  private async deliver(
    members: Target[],
    topic: string,
    msg: BrokerMessage,
    payload: Buffer,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    for (const node of members) {
      if (node.id.startsWith(`${this.id}-`)) {
        // Our own subscription: skip the network, keep the semantics.
        const local = this.subs.get(node.id);
        if (!local?.active) continue;
        if (payload.length > this.opts.maxBodyBytes) throw new MicroError(ID, "message too large", 413);
        const header = { ...msg.header, [TOPIC_HEADER]: topic };
        await invoke(local.handler, { topic, header, body: new Uint8Array(msg.body) }, this.logger);
        return;
      }
      const outcome = await post(this.agent, node, payload, this.opts.publishTimeout, signal);
      if (outcome === "ok") return;
      this.logger.debug("subscriber gone, trying the next", { topic, node: node.id, address: node.address });
      this.invalidate();
    }
  }

  private async lookup(): Promise<ServiceRecord[]> {
    this.follow();
    const cached = this.cache;
    if (cached && cached.expires > Date.now()) return cached.records;
    const generation = this.generation;
    let records: ServiceRecord[];
    try {
      records = await this.opts.registry.getService(HTTP_BROKER_SERVICE);
    } catch (err) {
      if (!(err instanceof MicroError && err.code === 404)) throw err;
      records = [];
    }
    // A registry event during the lookup may have made this answer stale: use it, don't keep it.
    if (generation === this.generation && this.watcher) {
      this.cache = { records, expires: Date.now() + this.opts.cacheTTL };
    }
    return records;
  }

  /** Keeps one registry watch running while the broker publishes; each event drops the cache. */
  private follow(): void {
    if (this.watcher || this.closing) return;
    let w: Watcher;
    try {
      w = this.opts.registry.watch({ service: HTTP_BROKER_SERVICE });
    } catch (err) {
      this.logger.warn("registry watch failed; lookups are not cached", { error: err });
      return;
    }
    this.watcher = w;
    const it = w[Symbol.asyncIterator]();
    const loop = async (): Promise<void> => {
      try {
        // A bare next() loop: the cache is dropped one microtask after the registry emits.
        for (let r = await it.next(); !r.done; r = await it.next()) this.invalidate();
      } catch (err) {
        this.logger.warn("registry watch ended", { error: err });
      } finally {
        if (this.watcher === w) this.watcher = undefined;
        this.invalidate();
      }
    };
    void loop();
  }

  private invalidate(): void {
    this.generation++;
    this.cache = undefined;
  }

  private startRenewing(): void {
    if (this.renewTimer) return;
    this.renewTimer = setInterval(() => {
      for (const s of this.subs.values()) {
        this.opts.registry.register(s.record, { ttl: this.opts.registerTTL }).catch((err: unknown) => {
          this.logger.warn("renewing subscription failed", { topic: s.topic, error: err });
        });
      }
    }, this.opts.registerInterval);
    this.renewTimer.unref();
  }

  private listen(): Promise<string> {
    this.listening ??= new Promise<string>((resolve, reject) => {
      const { host, port } = splitHostPort(this.opts.address);
      const server = http.createServer((req, res) => this.serve(req, res));
      this.server = server;
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        server.on("error", (err) => this.logger.error("broker server error", { error: err }));
        resolve(joinHostPort(advertised(host), (server.address() as AddressInfo).port));
      });
    });
    return this.listening;
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://broker");
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      return void reply(req, res, new MicroError(ID, "method not allowed", 405));
    }
    if (url.pathname !== "/") return void reply(req, res, new MicroError(ID, "not found", 404));
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      // Past the limit the rest is read and dropped, so the client still gets its 413.
      if (size <= this.opts.maxBodyBytes) chunks.push(c);
    });
    req.on("end", () => {
      if (size > this.opts.maxBodyBytes) return reply(req, res, new MicroError(ID, "message too large", 413));
      const env = decodeEnvelope(Buffer.concat(chunks, size));
      if (!env) return reply(req, res, badRequest(ID, "malformed message"));
      const sub = this.subs.get(url.searchParams.get("id") ?? "");
      if (this.closing) return reply(req, res, serviceUnavailable(ID, "broker is closing"));
      if (!sub?.active || sub.topic !== env.topic) return reply(req, res, new MicroError(ID, "no such subscriber", 404));
      void invoke(sub.handler, env, this.logger).then(() => reply(req, res));
    });
  }
}

function reply(req: http.IncomingMessage, res: http.ServerResponse, err?: MicroError): void {
  if (res.headersSent || res.destroyed) return;
  if (!err) {
    res.writeHead(200, { "Content-Length": 0 }).end();
    return;
  }
  const body = JSON.stringify(err.toJSON());
  if (!req.complete) res.setHeader("Connection", "close");
  res.writeHead(err.code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) });
  res.end(body);
}

/** The host others should dial: a wildcard bind advertises a real interface address. */
function advertised(host: string): string {
  if (host !== "" && host !== "0.0.0.0" && host !== "::") return host;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return "127.0.0.1";
}

export function httpBroker(opts: HttpBrokerOptions): HttpBroker {
  return new HttpBroker(opts);
}
