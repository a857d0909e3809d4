/**
 * Spans: one per call on each side (client and server) and per message (producer and
 * consumer), linked by W3C traceparent carried in call metadata and message headers, and
 * kept in a per-service ring buffer that Debug.Trace reads.
 */
import { performance } from "node:perf_hooks";
import type { Broker, BrokerHandler, BrokerMessage, PublishOptions, SubscribeOptions, Subscriber } from "../broker/broker.js";
import type { ClientMiddleware, ClientObserver, ResponseStream } from "../client/client.js";
import { currentContext, type Metadata } from "../context/context.js";
import { MicroError } from "../errors/errors.js";
import type { ServerMiddleware } from "../server/server.js";
import type { Span, SpanKind, TraceRequest } from "./debug.js";
import { formatTraceparent, IdSource, parseTraceparent } from "./traceparent.js";

export const TRACEPARENT = "traceparent";

export interface StartSpanOptions {
  name: string;
  kind: SpanKind;
  /** The incoming traceparent; malformed or missing starts a new trace. */
  parent?: string | undefined;
  /** Not copied: the same object may be given to many spans (an error adds to a copy). */
  attributes?: Record<string, string | number | boolean>;
}

/**
 * A span being timed, and once ended the record itself (one object per span): its own
 * fields are the Span; the tracer and the clock stay in private fields.
 */
export class ActiveSpan implements Span {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentId?: string;
  readonly service: string;
  readonly start: number;
  duration = -1;
  status: "ok" | "error" = "ok";
  attributes: Record<string, string | number | boolean>;
  readonly #tracer: Tracer;
  readonly #t0: number;
  readonly #flags: number;

  constructor(
    tracer: Tracer,
    readonly name: string,
    readonly kind: SpanKind,
    parent: string | undefined,
    attributes: Record<string, string | number | boolean> | undefined,
  ) {
    const p = parent === undefined ? undefined : parseTraceparent(parent);
    this.traceId = p ? p.traceId : tracer.ids.traceId();
    this.spanId = tracer.ids.spanId();
    if (p) this.parentId = p.spanId;
    this.service = tracer.service;
    this.#t0 = performance.now();
    this.start = tracer.timeOrigin + this.#t0;
    this.attributes = attributes ?? {};
    this.#tracer = tracer;
    this.#flags = p ? p.flags : 1;
  }

  /** The traceparent to send to children of this span. */
  get traceparent(): string {
    return formatTraceparent(this.traceId, this.spanId, this.#flags);
  }

  /**
   * Records the span: an error marks it failed and notes the MicroError code (500 for
   * anything else) and message. Idempotent.
   */
  end(err?: unknown): void {
    if (this.duration >= 0) return;
    this.duration = performance.now() - this.#t0;
    if (err !== undefined) {
      this.status = "error";
      // Attributes may be shared between spans (see StartSpanOptions): copy before adding.
      this.attributes = {
        ...this.attributes,
        "error.code": err instanceof MicroError ? err.code : 500,
        "error.message": err instanceof Error ? err.message : String(err),
      };
    }
    this.#tracer.record(this);
  }
}

export interface TracerOptions {
  /** The service recording the spans. */
  service: string;
  /** Spans kept. @default 1000 */
  size?: number;
  /** Called with every finished span (an exporter hook, e.g. OTLP). */
  onSpan?: (s: Span) => void;
}

/** A service's spans: a ring of the most recent `size`. */
export class Tracer {
  readonly service: string;
  readonly ids = new IdSource();
  /** performance.timeOrigin, read once (it is a getter). */
  readonly timeOrigin = performance.timeOrigin;
  private readonly size: number;
  private readonly buf: Span[] = [];
  private next = 0;
  private readonly onSpan: ((s: Span) => void) | undefined;

  constructor(o: TracerOptions) {
    this.service = o.service;
    this.size = Math.max(0, o.size ?? 1000);
    this.onSpan = o.onSpan;
  }

  startSpan(o: StartSpanOptions): ActiveSpan {
    return new ActiveSpan(this, o.name, o.kind, o.parent, o.attributes);
  }

  record(s: Span): void {
    if (this.size > 0) {
      if (this.buf.length < this.size) this.buf.push(s);
      else this.buf[this.next] = s;
      this.next = (this.next + 1) % this.size;
    }
    this.onSpan?.(s);
  }

  /** Recorded spans, oldest first, optionally of one trace and limited to the last `count`. */
  spans(o: TraceRequest = {}): Span[] {
    let list = this.buf.length < this.size ? this.buf.slice() : this.buf.slice(this.next).concat(this.buf.slice(0, this.next));
    if (o.traceId) list = list.filter((s) => s.traceId === o.traceId);
    if (o.count !== undefined && o.count >= 0) list = o.count === 0 ? [] : list.slice(-o.count);
    // Plain copies: in-process callers get values, not the live records.
    return list.map(plainSpan);
  }
}

function plainSpan(s: Span): Span {
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentId ? { parentId: s.parentId } : {}),
    name: s.name,
    kind: s.kind,
    service: s.service,
    start: s.start,
    duration: s.duration,
    status: s.status,
    attributes: { ...s.attributes },
  };
}

/** Debug calls are not traced or counted: polling them would crowd out the calls being debugged. */
export function isDebugEndpoint(endpoint: string): boolean {
  return endpoint.startsWith("Debug.");
}

function metadataTraceparent(md: Metadata | undefined): string | undefined {
  if (!md) return undefined;
  const v = md[TRACEPARENT];
  if (v !== undefined) return v;
  for (const k in md) if (k.toLowerCase() === TRACEPARENT) return md[k];
  return undefined;
}

/**
 * Wraps a stream's iterable so `end` runs once when it finishes, fails, or is returned
 * early; keeps a ResponseStream's cancel(). An iterator, not a generator: return() on a
 * generator that never started would skip its finally.
 */
export function onIterableEnd<T>(source: AsyncIterable<T> | Iterable<T>, end: (err?: unknown) => void): AsyncIterableIterator<T> {
  const it: AsyncIterator<T> | Iterator<T> =
    Symbol.asyncIterator in source ? (source as AsyncIterable<T>)[Symbol.asyncIterator]() : (source as Iterable<T>)[Symbol.iterator]();
  let finished = false;
  const finish = (err?: unknown): void => {
    if (finished) return;
    finished = true;
    end(err);
  };
  const wrapper: AsyncIterableIterator<T> & { cancel?: () => void } = {
    [Symbol.asyncIterator]() {
      return wrapper;
    },
    async next(): Promise<IteratorResult<T>> {
      try {
        const r = await it.next();
        if (r.done) finish();
        return r;
      } catch (e) {
        finish(e);
        throw e;
      }
    },
    async return(v?: unknown): Promise<IteratorResult<T>> {
      finish();
      if (it.return) return await it.return(v as T);
      return { done: true, value: v as T };
    },
    async throw(e?: unknown): Promise<IteratorResult<T>> {
      finish(e);
      if (it.throw) return await it.throw(e);
      throw e;
    },
  };
  const cancel = (source as Partial<ResponseStream<T>>).cancel;
  if (typeof cancel === "function") {
    wrapper.cancel = () => {
      finish();
      cancel.call(source);
    };
  }
  return wrapper;
}

interface CallName {
  name: string;
  attributes: Record<string, string | number | boolean>;
}

/**
 * Span names and attributes per (service, endpoint), made once: spans share them (an error
 * copies the attributes). Bounded, so endpoint names a caller makes up cannot grow it forever.
 */
export class CallNames {
  private readonly byService = new Map<string, Map<string, CallName>>();
  private size = 0;
  get(service: string, endpoint: string): CallName {
    let m = this.byService.get(service);
    const hit = m?.get(endpoint);
    if (hit) return hit;
    const n: CallName = { name: `${service} ${endpoint}`, attributes: Object.freeze({ "rpc.service": service, "rpc.method": endpoint }) as CallName["attributes"] };
    if (this.size < 4096) {
      if (!m) this.byService.set(service, (m = new Map()));
      m.set(endpoint, n);
      this.size++;
    }
    return n;
  }
}

/**
 * Starts the server span of a call and makes it the call's current traceparent. A call
 * without a traceparent starts a trace only for the sampled share (else: undefined).
 */
export function startServerSpan(tracer: Tracer, names: CallNames, service: string, endpoint: string, md: Metadata, sample = 1): ActiveSpan | undefined {
  if (md[TRACEPARENT] === undefined && (sample <= 0 || Math.random() >= sample)) return undefined;
  const n = names.get(service, endpoint);
  const span = new ActiveSpan(tracer, n.name, "server", md[TRACEPARENT], n.attributes);
  // The metadata object is this call's own (the server builds one per call).
  md[TRACEPARENT] = span.traceparent;
  return span;
}

/**
 * The server side: a span per handled call, child of the incoming traceparent (or a new
 * trace). The call's context metadata then carries this span's traceparent, so nested
 * calls and publishes made by the handler are its children.
 */
export function traceServerMiddleware(tracer: Tracer): ServerMiddleware {
  const names = new CallNames();
  return async (req, next) => {
    if (isDebugEndpoint(req.endpoint)) return next();
    const span = startServerSpan(tracer, names, req.service, req.endpoint, req.context.metadata);
    if (!span) return next();
    let result: unknown;
    try {
      result = await next();
    } catch (e) {
      span.end(e);
      throw e;
    }
    if (req.stream && result && typeof result === "object") return onIterableEnd(result as AsyncIterable<unknown>, (e) => span.end(e));
    span.end();
    return result;
  };
}

/**
 * The client side: a span per outgoing call, child of the caller's traceparent (the call's
 * metadata, else the current context's), whose own traceparent goes out with the call. A call
 * with no trace to continue starts one only for the sampled share.
 */
export function traceClientObserver(tracer: Tracer, sample = 1): ClientObserver {
  const names = new CallNames();
  return {
    start(call) {
      if (isDebugEndpoint(call.endpoint)) return undefined;
      const o = call.options;
      const parent = metadataTraceparent(o.metadata) ?? currentContext()?.metadata[TRACEPARENT];
      if (parent === undefined && (sample <= 0 || Math.random() >= sample)) return undefined;
      const n = names.get(call.service, call.endpoint);
      const span = new ActiveSpan(tracer, n.name, "client", parent, n.attributes);
      // The caller's options and metadata stay untouched.
      const md: Metadata = {};
      if (o.metadata) for (const k in o.metadata) if (k.toLowerCase() !== TRACEPARENT) md[k] = o.metadata[k]!;
      md[TRACEPARENT] = span.traceparent;
      return { options: { ...o, metadata: md }, end: (err?: unknown) => span.end(err) };
    },
  };
}

/** traceClientObserver as client middleware, for clients assembled by hand. */
export function traceClientMiddleware(tracer: Tracer, sample = 1): ClientMiddleware {
  const observer = traceClientObserver(tracer, sample);
  return async (req, next) => {
    const h = observer.start(req);
    if (!h) return next();
    Object.assign(req.options, h.options);
    let result: unknown;
    try {
      result = await next();
    } catch (e) {
      h.end(e);
      throw e;
    }
    if (req.stream && result && typeof result === "object") return onIterableEnd(result as ResponseStream<unknown>, (e) => h.end(e));
    h.end();
    return result;
  };
}

/**
 * A Broker that records a producer span per publish and a consumer span per delivered
 * message, carrying traceparent in the message headers. A handler sees the consumer
 * span's traceparent, so what it calls or publishes continues the trace.
 */
export class TracingBroker implements Broker {
  constructor(
    readonly inner: Broker,
    private readonly tracer: Tracer,
  ) {}

  get name(): string {
    return this.inner.name;
  }

  connect(): Promise<void> {
    return this.inner.connect();
  }

  async publish(topic: string, msg: BrokerMessage, o?: PublishOptions): Promise<void> {
    const span = this.tracer.startSpan({
      name: `${this.tracer.service} publish ${topic}`,
      kind: "producer",
      parent: metadataTraceparent(msg.header) ?? currentContext()?.metadata[TRACEPARENT],
      attributes: { "messaging.destination": topic },
    });
    const header = { ...msg.header, [TRACEPARENT]: span.traceparent };
    try {
      await this.inner.publish(topic, { header, body: msg.body }, o);
    } catch (e) {
      span.end(e);
      throw e;
    }
    span.end();
  }

  subscribe(topic: string, handler: BrokerHandler, o?: SubscribeOptions): Promise<Subscriber> {
    const tracer = this.tracer;
    return this.inner.subscribe(
      topic,
      async (ev) => {
        const span = tracer.startSpan({
          name: `${tracer.service} receive ${ev.topic}`,
          kind: "consumer",
          parent: metadataTraceparent(ev.header),
          attributes: { "messaging.destination": ev.topic, ...(o?.queue !== undefined ? { "messaging.queue": o.queue } : {}) },
        });
        try {
          await handler({ ...ev, header: { ...ev.header, [TRACEPARENT]: span.traceparent } });
        } catch (e) {
          span.end(e);
          throw e;
        }
        span.end();
      },
      o,
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
