/**
 * `natsTransport`: Micro's transport on NATS request/reply. A listener subscribes to a subject
 * of its own, `<prefix>.<node id>` (its address is `nats:<subject>`, which the service
 * registers); a caller publishes each call there with a reply subject in its own inbox.
 *
 *  - unary: one request, one reply (the server's end(msg)).
 *  - server streaming: the server publishes each message to the caller's reply subject with a
 *    sequence number, then an end marker; the caller grants flow-control credit on the call's
 *    control subject `<subject>.c.<call key>`, which the server watches, and cancels there too.
 *  - bodies above the server's max_payload travel in chunks.
 *  - liveness: NATS answers a publish to a subject nobody listens on with "no responders", so
 *    while calls are in flight each side checks the other every `heartbeat` ms: a caller whose
 *    listener is gone (process killed) fails its calls with a retryable 503; a server whose
 *    caller is gone aborts the calls' signals.
 *
 * The transport opens its NATS connection on first use and closes it when its last listener
 * and connection are closed (or on `close()`).
 */
import { randomUUID } from "node:crypto";
import type {
  ClientStream,
  Connection,
  DialOptions,
  Listener,
  StreamHandler,
  Message,
  ServerStream,
  Transport,
} from "@micro-ts/micro";
import { errors } from "@micro-ts/micro";
import { createInbox, type Msg, type NatsConnection, type Subscription } from "nats";
import { Connector, type NatsConnectOptions } from "./connection.js";
type CallTransportOptions = NonNullable<Parameters<Connection["request"]>[1]>;
type Handler = StreamHandler;
import { Assembler, controlHeaders, KIND, parts, readControl, type Control } from "./transport-wire.js";

const ID = "micro.transport.nats";
/** The scheme of a listener address: `nats:<subject>`. */
export const NATS_ADDRESS_SCHEME = "nats:";

export interface NatsTransportOptions extends NatsConnectOptions {
  /** First tokens of every listener's subject. @default "micro.transport" */
  prefix?: string;
  /** How often a side with calls in flight checks that its peer is still there, in ms. @default 1000 */
  heartbeat?: number;
  /** Bytes a streaming server may send ahead of what the caller consumed. @default 1048576 */
  window?: number;
}

const DEFAULTS = { prefix: "micro.transport", heartbeat: 1000, window: 1 << 20 } as const;

/** The error a caller gets when the peer is gone: retryable, like every transport's. */
const gone = (detail: string, cause?: unknown) => errors.serviceUnavailable("transport", detail, cause);
const deadlineError = () => errors.timeout("transport", "deadline exceeded");
const isNoResponders = (m: Msg) => m.headers?.hasError === true && m.headers.code === 503;
const natsCode = (e: unknown) => (e as { code?: unknown } | undefined)?.code;

function subjectOf(address: string): string {
  if (!address.startsWith(NATS_ADDRESS_SCHEME) || address.length === NATS_ADDRESS_SCHEME.length || /\s/.test(address)) {
    throw errors.badRequest(ID, `invalid NATS transport address ${JSON.stringify(address)}: expected nats:<subject>`);
  }
  return address.slice(NATS_ADDRESS_SCHEME.length);
}

/** A connection shared by every listener and connection of one transport, reference-counted. */
class Shared {
  private connector: Connector | undefined;
  private refs = 0;
  constructor(private readonly opts: NatsConnectOptions) {}

  async acquire(): Promise<NatsConnection> {
    this.refs++;
    this.connector ??= new Connector(ID, this.opts);
    try {
      return await this.connector.get();
    } catch (e) {
      await this.release();
      throw e;
    }
  }

  async release(): Promise<void> {
    if (--this.refs > 0) return;
    this.refs = 0;
    const c = this.connector;
    this.connector = undefined;
    await c?.close();
  }

  async close(): Promise<void> {
    this.refs = 0;
    const c = this.connector;
    this.connector = undefined;
    await c?.close();
  }
}

export class NatsTransport implements Transport {
  readonly name = "nats";
  private readonly shared: Shared;
  readonly heartbeat: number;
  readonly window: number;
  private readonly prefix: string;

  constructor(opts: NatsTransportOptions = {}) {
    const o = { ...DEFAULTS, ...opts };
    if (!(o.heartbeat > 0)) throw errors.badRequest(ID, "heartbeat must be positive");
    if (!(o.window > 0)) throw errors.badRequest(ID, "window must be positive");
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(o.prefix)) throw errors.badRequest(ID, `invalid subject prefix ${o.prefix}`);
    this.shared = new Shared(opts);
    this.heartbeat = o.heartbeat;
    this.window = o.window;
    this.prefix = o.prefix;
  }

  async listen(_address: string, handler: Handler): Promise<Listener> {
    const nc = await this.shared.acquire();
    const subject = `${this.prefix}.${randomUUID().replace(/-/g, "")}`;
    const l = new NatsListener(this, nc, subject, handler, () => this.shared.release());
    try {
      await l.start();
    } catch (e) {
      await l.close();
      throw gone(`listen on NATS: ${(e as Error).message}`, e);
    }
    return l;
  }

  async dial(address: string, o: DialOptions = {}): Promise<Connection> {
    const subject = subjectOf(address);
    o.signal?.throwIfAborted();
    const nc = await this.shared.acquire();
    try {
      await ping(nc, subject, o.timeout ?? 5000);
    } catch (e) {
      await this.shared.release();
      throw e;
    }
    return new NatsConnection_(this, nc, address, subject, () => this.shared.release());
  }

  /** Closes the NATS connection now, whatever still uses it. Idempotent. */
  close(): Promise<void> {
    return this.shared.close();
  }
}

/** Resolves when a listener answers on `subject`; rejects with a retryable 503 otherwise. */
async function ping(nc: NatsConnection, subject: string, timeout: number): Promise<void> {
  try {
    await nc.request(subject, new Uint8Array(0), { timeout, headers: controlHeaders({ kind: KIND.ping }) });
  } catch (e) {
    const why = natsCode(e) === "503" ? "no listener" : natsCode(e) === "TIMEOUT" ? "no answer in time" : (e as Error).message;
    throw gone(`dial nats:${subject}: ${why}`, e);
  }
}

// ---------------------------------------------------------------------------------------------
// server side

class NatsServerStream implements ServerStream {
  private readonly ctrl = new AbortController();
  private ended = false;
  private seq = 0;
  private sent = 0;
  private acked = 0;
  private waiters: (() => void)[] = [];
  readonly remote: string;

  constructor(
    private readonly l: NatsListener,
    readonly key: string,
    readonly reply: string,
    readonly request: Message,
    readonly streaming: boolean,
  ) {
    this.remote = `nats:${reply}`;
  }

  get signal(): AbortSignal {
    return this.ctrl.signal;
  }

  get done(): boolean {
    return this.ended;
  }

  send(msg: Message): void {
    if (this.ended || !this.streaming) return;
    this.sent += msg.body.byteLength;
    this.l.publish(this.reply, msg, { kind: KIND.item, seq: this.seq++ });
  }

  end(msg?: Message): void {
    if (this.ended) return;
    this.finish();
    if (this.streaming) this.l.publish(this.reply, msg, { kind: KIND.end, seq: this.seq++, final: msg !== undefined });
    else this.l.publish(this.reply, msg ?? { header: {}, body: new Uint8Array(0) }, { kind: KIND.end, final: true });
  }

  ready(): Promise<void> {
    if (this.ended || this.sent - this.acked < this.l.transport.window) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  credit(n: number): void {
    if (n > this.acked) this.acked = n;
    if (this.sent - this.acked < this.l.transport.window) this.wake();
  }

  /** Ends the call without a reply: the caller cancelled, went away, or the listener closed. */
  abort(reason: unknown, tellCaller: boolean): void {
    if (this.ended) return;
    this.finish();
    if (tellCaller) this.l.publish(this.reply, undefined, { kind: KIND.fail });
    this.ctrl.abort(reason);
  }

  private finish(): void {
    this.ended = true;
    this.l.forget(this);
    this.wake();
  }

  private wake(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

class NatsListener implements Listener {
  readonly address: string;
  private readonly live = new Map<string, NatsServerStream>();
  private readonly incoming = new Map<string, Assembler>();
  private subs: Subscription[] = [];
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly chunk: number;

  constructor(
    readonly transport: NatsTransport,
    private readonly nc: NatsConnection,
    private readonly subject: string,
    private readonly handler: Handler,
    private readonly release: () => Promise<void>,
  ) {
    this.address = `${NATS_ADDRESS_SCHEME}${subject}`;
    this.chunk = chunkSize(nc);
  }

  async start(): Promise<void> {
    this.subs.push(this.nc.subscribe(this.subject, { callback: (err, m) => err || this.onCall(m) }));
    this.subs.push(this.nc.subscribe(`${this.subject}.c.*`, { callback: (err, m) => err || this.onControl(m) }));
    // Once the server has our interest, a caller's first message reaches us.
    await this.nc.flush();
  }

  private onCall(m: Msg): void {
    const c = readControl(m.headers);
    if (c.kind === KIND.ping) {
      if (m.reply) m.respond(new Uint8Array(0));
      return;
    }
    if ((c.kind !== KIND.unary && c.kind !== KIND.stream) || !m.reply || !c.call || this.closed) return;
    let a = this.incoming.get(c.call);
    if (!a) this.incoming.set(c.call, (a = new Assembler()));
    const request = a.add(m.headers, m.data, c.more === true);
    if (!request) return;
    this.incoming.delete(c.call);
    const s = new NatsServerStream(this, c.call, m.reply, request, c.kind === KIND.stream);
    this.live.set(c.call, s);
    this.watch();
    try {
      this.handler(s);
    } catch (e) {
      s.abort(gone("handler failed", e), true);
    }
  }

  private onControl(m: Msg): void {
    const key = m.subject.slice(this.subject.length + 3);
    const s = this.live.get(key);
    if (!s) return;
    const c = readControl(m.headers);
    if (c.kind === KIND.cancel) s.abort(gone("cancelled by the client"), false);
    else if (c.kind === KIND.credit && c.credit !== undefined) s.credit(c.credit);
  }

  publish(subject: string, msg: Message | undefined, c: Control): void {
    if (this.nc.isClosed()) return;
    try {
      for (const p of parts(msg, c, this.chunk)) this.nc.publish(subject, p.body, { headers: p.headers });
    } catch {
      // the connection is closing: the caller's liveness check fails its call
    }
  }

  forget(s: NatsServerStream): void {
    if (this.live.get(s.key) === s) this.live.delete(s.key);
    if (this.live.size === 0) this.unwatch();
  }

  /** While calls are in flight, checks every heartbeat that their callers are still there. */
  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.transport.heartbeat);
    this.timer.unref();
  }

  private unwatch(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<void> {
    // One probe per caller inbox (all its calls share it), aimed at one of its calls.
    const byInbox = new Map<string, NatsServerStream[]>();
    for (const s of this.live.values()) {
      const inbox = s.reply.slice(0, s.reply.lastIndexOf("."));
      const list = byInbox.get(inbox);
      if (list) list.push(s);
      else byInbox.set(inbox, [s]);
    }
    await Promise.all(
      [...byInbox.values()].map(async (calls) => {
        try {
          await this.nc.request(calls[0]!.reply, new Uint8Array(0), { timeout: this.transport.heartbeat, headers: controlHeaders({ kind: KIND.probe }) });
        } catch (e) {
          if (natsCode(e) !== "503") return; // slow, not gone
          for (const s of calls) s.abort(gone("the caller went away"), false);
        }
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.unwatch();
    for (const sub of this.subs) sub.unsubscribe();
    const err = gone("listener closed");
    for (const s of [...this.live.values()]) s.abort(err, true);
    this.incoming.clear();
    if (!this.nc.isClosed()) await this.nc.flush().catch(() => undefined);
    await this.release();
  }
}

/** Body bytes per NATS message: half the server's limit leaves room for headers. */
function chunkSize(nc: NatsConnection): number {
  const max = nc.info?.max_payload ?? 1 << 20;
  return Math.max(1024, Math.floor(max / 2));
}

// ---------------------------------------------------------------------------------------------
// client side

interface Call {
  /** A NATS message for this call arrived. */
  on(m: Msg): void;
  /** The transport failed the call (peer gone, connection closed). */
  fail(e: unknown): void;
}

/** A small async queue for a stream's messages. */
class Queue {
  private items: Message[] = [];
  private waiters: { resolve: (r: IteratorResult<Message>) => void; reject: (e: unknown) => void }[] = [];
  private done = false;
  private error: unknown;

  push(m: Message): void {
    if (this.done) return;
    const w = this.waiters.shift();
    if (w) w.resolve({ value: m, done: false });
    else this.items.push(m);
  }

  end(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = err;
    for (const w of this.waiters.splice(0)) {
      if (err === undefined) w.resolve({ value: undefined, done: true });
      else w.reject(err);
    }
  }

  get ended(): boolean {
    return this.done;
  }

  next(): Promise<IteratorResult<Message>> {
    const m = this.items.shift();
    if (m) return Promise.resolve({ value: m, done: false });
    if (this.done) return this.error === undefined ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.error);
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }
}

class NatsConnection_ implements Connection {
  closed = false;
  private readonly calls = new Map<string, Call>();
  private sub: Subscription | undefined;
  private readonly inbox: string;
  private readonly token: string;
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly chunk: number;

  constructor(
    private readonly transport: NatsTransport,
    private readonly nc: NatsConnection,
    readonly address: string,
    private readonly subject: string,
    private readonly release: () => Promise<void>,
  ) {
    this.inbox = createInbox();
    this.token = this.inbox.slice(this.inbox.lastIndexOf(".") + 1);
    this.chunk = chunkSize(nc);
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, m) => err || this.route(m) });
  }

  private route(m: Msg): void {
    if (readControl(m.headers).kind === KIND.probe) {
      if (m.reply) m.respond(new Uint8Array(0));
      return;
    }
    this.calls.get(m.subject.slice(this.inbox.length + 1))?.on(m);
  }

  /** Registers a call; returns its key, reply subject and control subject. */
  private open(call: Call): { key: string; reply: string; control: string } {
    const n = String(this.next++);
    this.calls.set(n, call);
    this.watch();
    const key = `${this.token}-${n}`;
    return { key, reply: `${this.inbox}.${n}`, control: `${this.subject}.c.${key}` };
  }

  private done(reply: string): void {
    this.calls.delete(reply.slice(this.inbox.length + 1));
    if (this.calls.size === 0) this.unwatch();
  }

  private send(subject: string, msg: Message | undefined, c: Control, reply?: string): void {
    for (const p of parts(msg, c, this.chunk)) this.nc.publish(subject, p.body, { headers: p.headers, ...(reply ? { reply } : {}) });
  }

  private control(subject: string, c: Control): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(subject, new Uint8Array(0), { headers: controlHeaders(c) });
    } catch {
      // closing: the server's liveness check aborts the call
    }
  }

  private check(): void {
    if (this.closed || this.nc.isClosed()) throw gone(`connection to ${this.address} closed`);
  }

  request(msg: Message, o: CallTransportOptions = {}): Promise<Message> {
    if (o.signal?.aborted) return Promise.reject(o.signal.reason);
    try {
      this.check();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<Message>((resolve, reject) => {
      const asm = new Assembler();
      let timer: NodeJS.Timeout | undefined;
      const settle = (e: unknown, m?: Message) => {
        this.done(ids.reply);
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
        if (m) resolve(m);
        else reject(e);
      };
      const cancel = (e: unknown) => {
        settle(e);
        this.control(ids.control, { kind: KIND.cancel });
      };
      const onAbort = () => cancel(o.signal!.reason);
      const ids = this.open({
        on: (m) => {
          if (isNoResponders(m)) return settle(gone(`no listener at ${this.address}`));
          const c = readControl(m.headers);
          if (c.kind === KIND.fail) return settle(gone(`${this.address}: listener closed`));
          if (c.kind !== KIND.end) return;
          const reply = asm.add(m.headers, m.data, c.more === true);
          if (reply) settle(undefined, reply);
        },
        fail: (e) => settle(e),
      });
      o.signal?.addEventListener("abort", onAbort, { once: true });
      if (o.deadline !== undefined) timer = setTimeout(() => cancel(deadlineError()), Math.max(0, o.deadline - Date.now()));
      try {
        this.send(this.subject, msg, { kind: KIND.unary, call: ids.key }, ids.reply);
      } catch (e) {
        settle(gone(`send to ${this.address}: ${(e as Error).message}`, e));
      }
    });
  }

  stream(msg: Message, o: CallTransportOptions = {}): ClientStream {
    const q = new Queue();
    const window = this.transport.window;
    let consumed = 0;
    let granted = 0;
    let expect = 0;
    let timer: NodeJS.Timeout | undefined;
    const asm = new Assembler();
    let ids: { key: string; reply: string; control: string } | undefined;
    const finish = (err?: unknown) => {
      if (q.ended) return;
      if (ids) this.done(ids.reply);
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      q.end(err);
    };
    const cancel = (err?: unknown) => {
      if (q.ended) return;
      finish(err);
      if (ids) this.control(ids.control, { kind: KIND.cancel });
    };
    const onAbort = () => cancel();
    if (o.signal?.aborted) q.end(o.signal.reason);
    else {
      try {
        this.check();
        ids = this.open({
          on: (m) => {
            if (isNoResponders(m)) return finish(gone(`no listener at ${this.address}`));
            const c = readControl(m.headers);
            if (c.kind === KIND.fail) return finish(gone(`${this.address}: listener closed`));
            if (c.kind !== KIND.item && c.kind !== KIND.end) return;
            const whole = asm.add(m.headers, m.data, c.more === true);
            if (!whole) return;
            if (c.seq !== expect) return cancel(gone(`${this.address}: stream message ${expect} lost`));
            expect++;
            if (c.kind === KIND.item || c.final) q.push(whole);
            if (c.kind === KIND.end) finish();
          },
          fail: (e) => finish(e),
        });
        o.signal?.addEventListener("abort", onAbort, { once: true });
        if (o.deadline !== undefined) timer = setTimeout(() => cancel(deadlineError()), Math.max(0, o.deadline - Date.now()));
        this.send(this.subject, msg, { kind: KIND.stream, call: ids.key }, ids.reply);
      } catch (e) {
        finish(gone(`stream to ${this.address}: ${(e as Error).message}`, e));
      }
    }
    const iterator: AsyncIterator<Message> = {
      next: async () => {
        const r = await q.next();
        if (!r.done && ids) {
          // Credit the server once a quarter window has been consumed.
          consumed += r.value.body.byteLength;
          if (consumed - granted >= window / 4) {
            granted = consumed;
            this.control(ids.control, { kind: KIND.credit, credit: consumed });
          }
        }
        return r;
      },
      return: async () => {
        cancel();
        return { value: undefined, done: true };
      },
    };
    return { [Symbol.asyncIterator]: () => iterator, cancel: () => cancel() };
  }

  /** While calls are in flight, checks every heartbeat that the listener is still there. */
  private watch(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.probe(), this.transport.heartbeat);
    this.timer.unref();
  }

  private unwatch(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private async probe(): Promise<void> {
    if (this.nc.isClosed()) return this.failAll(gone(`connection to ${this.address} closed`));
    try {
      await ping(this.nc, this.subject, this.transport.heartbeat);
    } catch (e) {
      if (natsCode((e as { cause?: unknown }).cause) === "503") this.failAll(gone(`${this.address} went away`, e));
    }
  }

  private failAll(e: unknown): void {
    for (const c of [...this.calls.values()]) c.fail(e);
    this.calls.clear();
    this.unwatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(gone(`connection to ${this.address} closed`));
    this.sub?.unsubscribe();
    this.sub = undefined;
    await this.release();
  }
}

/** A Transport on NATS request/reply: `new Service({ transport: natsTransport({ servers }) })`. */
export function natsTransport(opts: NatsTransportOptions = {}): NatsTransport {
  return new NatsTransport({ ...opts });
}
