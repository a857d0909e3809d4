/** The RPC server over any Transport. */
import { Codecs, type Codec } from "../codec/codec.js";
import { runWithContext, type Context, type Metadata } from "../context/context.js";
import {
  badRequest,
  MicroError,
  notFound,
  serviceUnavailable,
  timeout as timeoutError,
} from "../errors/errors.js";
import type { Logger } from "../logger/logger.js";
import { silentLogger } from "../logger/logger.js";
import type { Endpoint } from "../registry/registry.js";
import { formatIssues } from "../schema/standard-schema.js";
import { HEADERS, type Handler, type Listener, type ServerStream, type StreamHandler, type Transport } from "../transport/transport.js";
import { extractEndpoints, toRegistryEndpoint, type EndpointEntry, type HandleOptions } from "./handler.js";
import type { Server, ServerMiddleware, ServerObserver, ServerRequest } from "./server.js";

export interface RpcServerOptions {
  /** The service name this server answers for. */
  name: string;
  transport: Transport;
  /** `host:port` to listen on. @default "127.0.0.1:0" */
  address?: string;
  codecs?: Codecs;
  logger?: Logger;
  /** Extra work to run per call, e.g. auth checks; see ServerMiddleware. */
  middleware?: ServerMiddleware[];
  /** More service names this server answers for (one server hosting several services). */
  aliases?: readonly string[];
  /**
   * Takes the calls whose micro-service header names a service this server does not answer
   * for (neither `name` nor an alias), instead of dispatching them by endpoint: the network
   * proxy forwards them. Without it, such calls are dispatched like any other.
   */
  fallback?: StreamHandler;
}

const RESERVED = new Set<string>([HEADERS.service, HEADERS.endpoint, HEADERS.contentType, HEADERS.timeout, HEADERS.stream]);

/** The context of one call; the AbortSignal (and its deadline timer) only exist if asked for. */
class CallContext implements Context {
  private ctrl: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  done = false;
  constructor(
    readonly metadata: Metadata,
    readonly deadline: number | undefined,
    private readonly stream: { readonly signal: AbortSignal } | undefined,
    readonly service: string,
    readonly endpoint: string,
  ) {}
  get signal(): AbortSignal {
    if (this.ctrl) return this.ctrl.signal;
    const ctrl = (this.ctrl = new AbortController());
    if (this.done) return ctrl.signal;
    const upstream = this.stream?.signal;
    if (upstream?.aborted) ctrl.abort(upstream.reason);
    else upstream?.addEventListener("abort", () => ctrl.abort(upstream.reason), { once: true });
    if (this.deadline !== undefined && !ctrl.signal.aborted) {
      const ms = this.deadline - Date.now();
      const err = timeoutError(this.service, `${this.endpoint}: deadline exceeded`);
      if (ms <= 0) ctrl.abort(err);
      else {
        this.timer = setTimeout(() => ctrl.abort(err), ms);
        this.timer.unref();
      }
    }
    return ctrl.signal;
  }
  /** Why the call was cut short (deadline or cancel), if it was and anyone was listening. */
  get cutShort(): unknown {
    return this.ctrl?.signal.aborted ? this.ctrl.signal.reason : undefined;
  }
  finish(): void {
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
  }
}

function metadataOf(header: Record<string, string>): Metadata {
  const md: Metadata = {};
  for (const k in header) if (!RESERVED.has(k)) md[k] = header[k]!;
  return md;
}

export class RpcServer implements Server {
  private readonly handlers = new Map<string, EndpointEntry>();
  private readonly chain: ServerMiddleware[];
  private readonly observers: ServerObserver[] = [];
  private readonly codecs: Codecs;
  private readonly logger: Logger;
  private readonly names: ReadonlySet<string>;
  private listener: Listener | undefined;
  private draining = false;
  private active = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly opts: RpcServerOptions) {
    this.codecs = opts.codecs ?? new Codecs();
    this.logger = opts.logger ?? silentLogger();
    this.chain = [...(opts.middleware ?? [])];
    this.names = new Set([opts.name, ...(opts.aliases ?? [])]);
  }

  get address(): string {
    return this.listener?.address ?? "";
  }

  get inflight(): number {
    return this.active;
  }

  handle(handler: object, o?: HandleOptions): void {
    for (const e of extractEndpoints(handler, o)) {
      const key = e.name.toLowerCase();
      if (this.handlers.has(key)) throw new TypeError(`endpoint ${e.name} is already handled`);
      this.handlers.set(key, e);
    }
  }

  use(mw: ServerMiddleware): void {
    this.chain.push(mw);
  }

  observe(o: ServerObserver): void {
    this.observers.push(o);
  }

  /** Starts every observer; returns one function ending them all, or undefined if none watches. */
  private watch(entry: EndpointEntry, ctx: CallContext): ((err?: unknown) => void) | undefined {
    const n = this.observers.length;
    if (n === 0) return undefined;
    const call = { service: this.opts.name, endpoint: entry.name, stream: entry.stream, context: ctx };
    if (n === 1) return this.observers[0]!.start(call);
    const ends = this.observers.map((o) => o.start(call)).filter((f) => f !== undefined);
    return ends.length === 0 ? undefined : (err) => ends.forEach((f) => f(err));
  }

  endpoints(): Endpoint[] {
    return [...this.handlers.values()].map(toRegistryEndpoint);
  }

  async start(): Promise<string> {
    if (this.listener) return this.listener.address;
    this.draining = false;
    const handler: Handler = Object.assign((s: ServerStream) => this.serve(s), {
      direct: (h: Record<string, string>, req: unknown, deadline: number | undefined, signal?: AbortSignal) =>
        this.direct(h, req, deadline, signal),
    });
    this.listener = await this.opts.transport.listen(this.opts.address ?? "127.0.0.1:0", handler);
    return this.listener.address;
  }

  async stop(o: { drainTimeout?: number } = {}): Promise<void> {
    if (!this.listener) return;
    this.draining = true;
    if (this.active > 0) {
      const wait = new Promise<void>((resolve) => (this.idle = resolve));
      let t: NodeJS.Timeout | undefined;
      const limit = new Promise<void>((resolve) => (t = setTimeout(resolve, o.drainTimeout ?? 10_000)));
      await Promise.race([wait, limit]);
      clearTimeout(t);
      if (this.active > 0) this.logger.warn("stopping with calls still in flight", { inflight: this.active });
    }
    const l = this.listener;
    this.listener = undefined;
    await l.close();
  }

  private reply(stream: ServerStream, codec: Codec, value: unknown): void {
    stream.end({ header: { [HEADERS.contentType]: codec.contentType }, body: codec.encode(value) });
  }

  private fail(stream: ServerStream, err: unknown, endpoint: string): void {
    const e = MicroError.from(err, this.opts.name);
    if (!(err instanceof MicroError)) this.logFailure(endpoint, err);
    stream.end({
      header: { [HEADERS.error]: "1", [HEADERS.contentType]: "application/json" },
      body: Buffer.from(JSON.stringify(e.toJSON())),
    });
  }

  private serve(stream: ServerStream): void {
    const h = stream.request.header;
    const endpointName = h[HEADERS.endpoint] ?? "";
    if (this.draining) {
      this.fail(stream, serviceUnavailable(this.opts.name, "server is shutting down"), endpointName);
      return;
    }
    const target = h[HEADERS.service];
    if (this.opts.fallback && target && !this.names.has(target)) {
      this.opts.fallback(stream);
      return;
    }
    const entry = this.handlers.get(endpointName.toLowerCase());
    if (!entry) {
      this.fail(stream, this.unknownEndpoint(endpointName), endpointName);
      return;
    }
    const codec = this.codecs.get(h[HEADERS.contentType]);
    if (!codec) {
      this.fail(stream, badRequest(this.opts.name, `unsupported content type ${h[HEADERS.contentType]}`), entry.name);
      return;
    }
    const t = h[HEADERS.timeout];
    const deadline = t !== undefined ? Date.now() + Number(t) : undefined;
    const ctx = new CallContext(metadataOf(h), deadline, stream, this.opts.name, entry.name);
    this.active++;
    runWithContext(ctx, () => this.run(stream, entry, codec, ctx)).then(
      () => this.done(ctx),
      (err: unknown) => {
        this.fail(stream, err, entry.name);
        this.done(ctx);
      },
    );
  }

  private done(ctx: CallContext): void {
    ctx.finish();
    if (--this.active === 0 && this.idle) {
      const idle = this.idle;
      this.idle = undefined;
      idle();
    }
  }

  /** Validation, middleware and the handler: what every call runs, however it arrived. */
  private async invoke(entry: EndpointEntry, input: unknown, ctx: CallContext): Promise<unknown> {
    let body = input;
    const schema = entry.options.request;
    if (schema) {
      let r = schema["~standard"].validate(body);
      if (r instanceof Promise) r = await r;
      if (r.issues) throw badRequest(this.opts.name, `${entry.name}: invalid request: ${formatIssues(r.issues)}`);
      body = r.value;
    }
    let result: unknown;
    if (this.chain.length === 0) result = entry.fn(body, ctx);
    else {
      const req: ServerRequest = { service: this.opts.name, endpoint: entry.name, body, stream: entry.stream, context: ctx };
      const last = async (): Promise<unknown> => entry.fn(body, ctx);
      const dispatch = (i: number): Promise<unknown> => (i === this.chain.length ? last() : this.chain[i]!(req, () => dispatch(i + 1)));
      result = dispatch(0);
    }
    if (result instanceof Promise) result = await result;
    // A unary handler that returned because its deadline passed did not really answer.
    if (!entry.stream) {
      const cut = ctx.cutShort;
      if (cut !== undefined) throw cut;
    }
    return result;
  }

  private async run(stream: ServerStream, entry: EndpointEntry, codec: Codec, ctx: CallContext): Promise<void> {
    const end = this.watch(entry, ctx);
    try {
      const result = await this.invoke(entry, codec.decode(stream.request.body), ctx);
      if (!entry.stream) this.reply(stream, codec, result);
      else await this.pump(stream, entry, codec, result);
    } catch (err) {
      end?.(err);
      throw err;
    }
    end?.();
  }

  /** The in-process path (see DirectHandler): values in and out, no codec. */
  private direct(header: Record<string, string>, request: unknown, deadline: number | undefined, signal?: AbortSignal): Promise<unknown> {
    const endpointName = header[HEADERS.endpoint] ?? "";
    if (this.draining) return Promise.reject(serviceUnavailable(this.opts.name, "server is shutting down"));
    const entry = this.handlers.get(endpointName.toLowerCase());
    if (!entry) return Promise.reject(this.unknownEndpoint(endpointName));
    if (entry.stream) return Promise.reject(badRequest(this.opts.name, `${entry.name} is a streaming endpoint: call it with stream()`));
    const ctx = new CallContext(metadataOf(header), deadline, signal ? { signal } : undefined, this.opts.name, entry.name);
    this.active++;
    const end = this.watch(entry, ctx);
    return runWithContext(ctx, () => this.invoke(entry, request, ctx)).then(
      (v) => {
        end?.();
        this.done(ctx);
        return v;
      },
      (err: unknown) => {
        end?.(err);
        this.done(ctx);
        if (!(err instanceof MicroError)) this.logFailure(entry.name, err);
        throw MicroError.from(err, this.opts.name);
      },
    );
  }

  private unknownEndpoint(endpointName: string): MicroError {
    const names = [...this.handlers.values()].map((e) => e.name).join(", ");
    return notFound(this.opts.name, `endpoint ${endpointName || "(none)"} not found on service ${this.opts.name}; endpoints: ${names}`);
  }

  private logFailure(endpoint: string, err: unknown): void {
    this.logger.error("handler failed", { endpoint, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }

  private async pump(stream: ServerStream, entry: EndpointEntry, codec: Codec, result: unknown): Promise<void> {
    const iterable = result as AsyncIterable<unknown> | Iterable<unknown> | undefined;
    if (!iterable || (typeof iterable !== "object" && typeof iterable !== "function")) {
      throw new TypeError(`${entry.name} is a streaming endpoint but did not return an iterable`);
    }
    const it: AsyncIterator<unknown> | Iterator<unknown> =
      Symbol.asyncIterator in iterable
        ? (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator]()
        : (iterable as Iterable<unknown>)[Symbol.iterator]();
    const signal = stream.signal;
    // When the client goes away, stop the generator even if it is waiting.
    const onAbort = () => void Promise.resolve(it.return?.()).catch(() => {});
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        if (signal.aborted) return;
        const r = await it.next();
        if (r.done || signal.aborted) break;
        stream.send({ header: { [HEADERS.contentType]: codec.contentType }, body: codec.encode(r.value) });
        await stream.ready();
      }
      stream.end();
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}

export function rpcServer(opts: RpcServerOptions): RpcServer {
  return new RpcServer(opts);
}
