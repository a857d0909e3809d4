/** The RPC client: discovery through the (cached) registry, selection, retries, deadlines. */
import { Codecs, type Codec } from "../codec/codec.js";
import { currentContext, normalizeMetadata, type Metadata } from "../context/context.js";
import {
  badRequest,
  isRetryable,
  MicroError,
  serviceUnavailable,
  timeout as timeoutError,
} from "../errors/errors.js";
import type { Broker } from "../broker/broker.js";
import { CacheRegistry } from "../registry/cache.js";
import type { Node, Registry, ServiceRecord } from "../registry/registry.js";
import { filterNode, filterVersion, randomSelector, type Filter, type Selector } from "../selector/selector.js";
import { HEADERS, type CallTransportOptions, type Connection, type Message, type Transport } from "../transport/transport.js";
import { capitalize } from "../server/handler.js";
import type { CallOptions, Client, ClientMiddleware, ClientObserver, ClientOf, ClientRequest, PublishOptions, ResponseStream } from "./client.js";
import { callHandle } from "./handle.js";
import { Expiry } from "../util/expiry.js";
import { Pool } from "./pool.js";

export interface RpcClientOptions {
  registry: Registry;
  transport: Transport;
  /** @default randomSelector() */
  selector?: Selector;
  broker?: Broker;
  codecs?: Codecs;
  /** Defaults for every call. */
  callDefaults?: { timeout?: number; retries?: number };
  middleware?: ClientMiddleware[];
  /** Where outbound calls go instead of the target (the network proxy); see docs/network.md. */
  proxy?: string;
}

const DEFAULT_TIMEOUT = 5000;
const DEFAULT_RETRIES = 1;

function backoff(attempt: number): number {
  const base = Math.min(1000, 10 * 2 ** (attempt - 1));
  return base / 2 + Math.random() * (base / 2);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class RpcClient implements Client {
  private readonly registry: CacheRegistry;
  private readonly selector: Selector;
  private readonly codecs: Codecs;
  private readonly pool: Pool;
  private readonly chain: ClientMiddleware[];
  private readonly timeout: number;
  private readonly retries: number;
  private readonly expiry = new Expiry();
  private readonly observers: ClientObserver[] = [];

  constructor(private readonly opts: RpcClientOptions) {
    this.registry = opts.registry instanceof CacheRegistry ? opts.registry : new CacheRegistry(opts.registry);
    this.selector = opts.selector ?? randomSelector();
    this.codecs = opts.codecs ?? new Codecs();
    this.pool = new Pool(opts.transport);
    this.chain = [...(opts.middleware ?? [])];
    this.timeout = opts.callDefaults?.timeout ?? DEFAULT_TIMEOUT;
    this.retries = opts.callDefaults?.retries ?? DEFAULT_RETRIES;
  }

  use(mw: ClientMiddleware): void {
    this.chain.push(mw);
  }

  call<T = unknown>(service: string, endpoint: string, req: unknown, o: CallOptions = {}): Promise<T> {
    const h = this.observers.length === 0 ? undefined : this.watch(service, endpoint, false, o);
    const opts = h?.options ?? o;
    let p: Promise<unknown>;
    if (this.chain.length === 0) p = this.unary(service, endpoint, req, opts);
    else {
      const r: ClientRequest = { service, endpoint, body: req, stream: false, options: { ...opts } };
      p = this.through(r, () => this.unary(service, endpoint, r.body, r.options));
    }
    if (!h) return p as Promise<T>;
    return p.then(
      (v) => {
        h.end();
        return v as T;
      },
      (e: unknown) => {
        h.end(e);
        throw e;
      },
    );
  }

  stream<T = unknown>(service: string, endpoint: string, req: unknown, o: CallOptions = {}): ResponseStream<T> {
    const h = this.observers.length === 0 ? undefined : this.watch(service, endpoint, true, o);
    const opts = h?.options ?? o;
    let s: ResponseStream<T>;
    if (this.chain.length === 0) s = this.openStream<T>(service, endpoint, req, opts);
    else {
      const r: ClientRequest = { service, endpoint, body: req, stream: true, options: { ...opts } };
      s = lazyStream(this.through(r, async () => this.openStream<T>(service, endpoint, r.body, r.options)) as Promise<ResponseStream<T>>);
    }
    return h ? endingStream(s, h.end) : s;
  }

  observe(o: ClientObserver): void {
    this.observers.push(o);
  }

  private watch(service: string, endpoint: string, stream: boolean, options: CallOptions): { options?: CallOptions; end(err?: unknown): void } | undefined {
    let opts = options;
    const ends: ((err?: unknown) => void)[] = [];
    for (const ob of this.observers) {
      const h = ob.start({ service, endpoint, stream, options: opts });
      if (!h) continue;
      if (h.options) opts = h.options;
      ends.push((e) => h.end(e));
    }
    if (ends.length === 0) return undefined;
    return { options: opts, end: (err) => ends.forEach((f) => f(err)) };
  }

  async publish(topic: string, msg: unknown, o: PublishOptions = {}): Promise<void> {
    const broker = this.opts.broker;
    if (!broker) throw serviceUnavailable("client", "no broker configured for publish");
    const codec = this.codecs.default;
    const ctx = currentContext();
    const header: Metadata = { ...(ctx?.metadata ?? {}), ...normalizeMetadata(o.metadata) };
    header["micro-topic"] = topic;
    header[HEADERS.contentType] = codec.contentType;
    const pubOpts = o.signal ? { signal: o.signal } : {};
    await broker.publish(topic, { header, body: codec.encode(msg) }, pubOpts);
  }

  service<T>(name: string, handler?: string): ClientOf<T> {
    const h = handler ?? capitalize(name.split(".").pop() ?? name);
    return new Proxy({} as ClientOf<T>, {
      get: (_t, prop) => {
        if (typeof prop !== "string" || prop === "then") return undefined;
        const endpoint = `${h}.${capitalize(prop)}`;
        return (req: unknown, o?: CallOptions) =>
          callHandle(
            () => this.call(name, endpoint, req, o),
            () => this.stream(name, endpoint, req, o),
          );
      },
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
    await this.registry.close();
  }

  private through(r: ClientRequest, last: () => Promise<unknown>): Promise<unknown> {
    const dispatch = (i: number): Promise<unknown> => (i === this.chain.length ? last() : this.chain[i]!(r, () => dispatch(i + 1)));
    return dispatch(0);
  }

  private header(service: string, endpoint: string, o: CallOptions, remaining: number | undefined, contentType: string | undefined): Metadata {
    const ctx = currentContext();
    const header: Metadata = {};
    if (ctx) for (const k in ctx.metadata) header[k] = ctx.metadata[k]!;
    if (o.metadata) for (const k in o.metadata) header[k.toLowerCase()] = String(o.metadata[k]);
    header[HEADERS.service] = service;
    header[HEADERS.endpoint] = endpoint;
    if (contentType !== undefined) header[HEADERS.contentType] = contentType;
    if (remaining !== undefined) header[HEADERS.timeout] = String(remaining);
    return header;
  }

  private message(service: string, endpoint: string, req: unknown, o: CallOptions, remaining: number | undefined): { msg: Message; codec: Codec } {
    const codec = o.contentType ? this.codecs.get(o.contentType) : this.codecs.default;
    if (!codec) throw badRequest("client", `unsupported content type ${o.contentType}`);
    return { msg: { header: this.header(service, endpoint, o, remaining, codec.contentType), body: codec.encode(req) }, codec };
  }

  /** An in-process call: the value goes as is; the deadline is kept by the shared Expiry. */
  private viaDirect(
    conn: Connection,
    service: string,
    endpoint: string,
    req: unknown,
    o: CallOptions,
    deadline: number,
    retry?: (e: unknown) => Promise<unknown>,
  ): Promise<unknown> {
    const header = this.header(service, endpoint, o, deadline - Date.now(), undefined);
    const p = conn.direct!(header, req, deadline, o.signal);
    return new Promise((resolve, reject) => {
      const item = this.expiry.add(deadline, () => reject(this.timedOut(service, endpoint, o)));
      p.then(
        (v) => {
          this.expiry.remove(item);
          resolve(v);
        },
        (e: unknown) => {
          this.expiry.remove(item);
          if (retry && isRetryable(e) && !o.signal?.aborted && (o.retries ?? this.retries) > 0) resolve(retry(e));
          else reject(e);
        },
      );
    });
  }

  private filters(o: CallOptions): Filter[] | undefined {
    if (!o.node && !o.version && !o.filters) return undefined;
    const f: Filter[] = [...(o.filters ?? [])];
    if (o.version) f.push(filterVersion(o.version));
    if (o.node) f.push(filterNode(o.node));
    return f;
  }

  /** Resolves the nodes to try, in order; synchronously when the registry cache is warm. */
  private nodes(service: string, o: CallOptions): (() => Node | undefined) | Promise<() => Node | undefined> {
    if (o.address) {
      let done = false;
      const node: Node = { id: o.address, address: o.address };
      return () => (done ? undefined : ((done = true), node));
    }
    const cached = this.registry.peek(service);
    if (cached) return this.pick(cached, o);
    return this.registry.lookup(service).then(
      (records) => this.pick(records, o),
      (e: unknown) => {
        if (e instanceof MicroError && e.code === 404) throw new MicroError("go.micro.client", `service ${service} not found`, 404);
        throw e;
      },
    );
  }

  private pick(records: ServiceRecord[], o: CallOptions): () => Node | undefined {
    const filters = this.filters(o);
    return this.selector.select(records, filters ? { filters } : undefined);
  }

  private deadline(o: CallOptions): number {
    const own = Date.now() + (o.timeout ?? this.timeout);
    const parent = currentContext()?.deadline;
    return parent !== undefined && parent < own ? parent : own;
  }

  private unary(service: string, endpoint: string, req: unknown, o: CallOptions): Promise<unknown> {
    // Fast path: an in-process server, a warm registry cache and an open connection.
    if (o.address === undefined && this.opts.proxy === undefined) {
      const cached = this.registry.peek(service);
      const node = cached && this.pick(cached, o)();
      const conn = node && this.pool.peek(node.address);
      if (conn?.direct) {
        return this.viaDirect(conn, service, endpoint, req, o, this.deadline(o), (e) => {
          this.selector.mark(node!, e);
          return this.remote(service, endpoint, req, o);
        });
      }
      if (conn) {
        const deadline = this.deadline(o);
        const { msg, codec } = this.message(service, endpoint, req, o, deadline - Date.now());
        return conn.request(msg, o.signal ? { deadline, signal: o.signal } : { deadline }).then(
          (rsp) => this.decode(rsp, codec),
          (e: unknown) => {
            if (e instanceof MicroError && e.code === 408 && e.id === "transport") throw this.timedOut(service, endpoint, o);
            if (!isRetryable(e) || o.signal?.aborted || (o.retries ?? this.retries) === 0) throw e;
            this.selector.mark(node!, e);
            return this.remote(service, endpoint, req, { ...o, retries: (o.retries ?? this.retries) - 1 });
          },
        );
      }
    }
    return this.remote(service, endpoint, req, o);
  }

  private async remote(service: string, endpoint: string, req: unknown, o: CallOptions): Promise<unknown> {
    const deadline = this.deadline(o);
    const n = this.nodes(service, o);
    const next = n instanceof Promise ? await n : n;
    const retries = o.retries ?? this.retries;
    const topts: CallTransportOptions = o.signal ? { deadline, signal: o.signal } : { deadline };
    let lastErr: unknown;
    for (let attempt = 0; attempt <= retries; attempt++) {
      const node = next();
      if (!node) break;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw this.timedOut(service, endpoint, o);
      try {
        const c = this.pool.get(this.opts.proxy ?? node.address, o.signal);
        const conn = c instanceof Promise ? await c : c;
        if (conn.direct) {
          const v = await this.viaDirect(conn, service, endpoint, req, o, deadline);
          this.selector.mark(node);
          return v;
        }
        const { msg, codec } = this.message(service, endpoint, req, o, remaining);
        const rsp = await conn.request(msg, topts);
        this.selector.mark(node);
        return this.decode(rsp, codec);
      } catch (e) {
        lastErr = e;
        if (e instanceof MicroError && e.code === 408 && e.id === "transport") throw this.timedOut(service, endpoint, o);
        if (!isRetryable(e) || o.signal?.aborted) throw e;
        this.selector.mark(node, e);
      }
      if (attempt < retries) {
        const wait = Math.min(backoff(attempt + 1), deadline - Date.now());
        if (wait > 0) await sleep(wait);
      }
    }
    if (lastErr) throw lastErr;
    throw serviceUnavailable("go.micro.client", `service ${service}: no node available`);
  }

  private timedOut(service: string, endpoint: string, o: CallOptions): MicroError {
    return timeoutError("go.micro.client", `call to ${service} ${endpoint} timed out after ${o.timeout ?? this.timeout} ms`);
  }

  private decode(rsp: Message, codec: Codec): unknown {
    if (rsp.header[HEADERS.error] !== undefined) throw MicroError.parse(Buffer.from(rsp.body).toString("utf8"));
    const c = rsp.header[HEADERS.contentType] ? (this.codecs.get(rsp.header[HEADERS.contentType]) ?? codec) : codec;
    return c.decode(rsp.body);
  }

  private openStream<T>(service: string, endpoint: string, req: unknown, o: CallOptions): ResponseStream<T> {
    const ctrl = new AbortController();
    let cancelled = false;
    const self = this;
    async function* run(): AsyncGenerator<T> {
      // Streams may live long: only an explicit timeout or the caller's deadline bounds them.
      const parent = currentContext()?.deadline;
      const deadline = o.timeout !== undefined || parent !== undefined ? self.deadline(o) : undefined;
      const next = await self.nodes(service, o);
      const retries = o.retries ?? self.retries;
      for (let attempt = 0; ; attempt++) {
        const node = next();
        if (!node) throw serviceUnavailable("go.micro.client", `service ${service}: no node available`);
        const { msg, codec } = self.message(service, endpoint, req, o, deadline === undefined ? undefined : Math.max(1, deadline - Date.now()));
        let conn: Connection;
        try {
          conn = await self.pool.get(self.opts.proxy ?? node.address, ctrl.signal);
        } catch (e) {
          self.selector.mark(node, e);
          if (isRetryable(e) && attempt < retries) continue;
          throw e;
        }
        const s = conn.stream(msg, { signal: ctrl.signal });
        let received = 0;
        try {
          for await (const m of s) {
            received++;
            yield self.decode(m, codec) as T;
          }
          self.selector.mark(node);
          return;
        } catch (e) {
          // Only retry a stream that failed before it delivered anything.
          if (received === 0 && isRetryable(e) && attempt < retries && !cancelled) {
            self.selector.mark(node, e);
            continue;
          }
          throw e;
        } finally {
          s.cancel();
        }
      }
    }
    const gen = run();
    o.signal?.addEventListener("abort", () => ctrl.abort(o.signal!.reason), { once: true });
    return Object.assign(gen, {
      cancel: () => {
        cancelled = true;
        ctrl.abort();
        void gen.return(undefined).catch(() => {});
      },
    }) as unknown as ResponseStream<T>;
  }
}

/** A stream that calls `end` once when it finishes, fails, or is stopped. */
function endingStream<T>(s: ResponseStream<T>, end: (err?: unknown) => void): ResponseStream<T> {
  let done = false;
  const finish = (err?: unknown) => {
    if (!done) {
      done = true;
      end(err);
    }
  };
  async function* run(): AsyncGenerator<T> {
    try {
      yield* s;
    } catch (e) {
      finish(e);
      throw e;
    } finally {
      finish();
    }
  }
  const gen = run();
  return Object.assign(gen, {
    cancel: () => {
      finish();
      s.cancel();
      void gen.return(undefined).catch(() => {});
    },
  }) as unknown as ResponseStream<T>;
}

function lazyStream<T>(p: Promise<ResponseStream<T>>): ResponseStream<T> {
  let inner: ResponseStream<T> | undefined;
  async function* run(): AsyncGenerator<T> {
    inner = await p;
    yield* inner;
  }
  const gen = run();
  return Object.assign(gen, {
    cancel: () => {
      inner?.cancel();
      void gen.return(undefined).catch(() => {});
    },
  }) as unknown as ResponseStream<T>;
}

export function rpcClient(opts: RpcClientOptions): RpcClient {
  return new RpcClient(opts);
}
