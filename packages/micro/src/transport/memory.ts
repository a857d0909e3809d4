/** An in-process transport: for tests and single-process apps. Messages are not copied. */
import { AsyncQueue } from "../util/watcher.js";
import {
  combinedSignal,
  transportError,
  type CallTransportOptions,
  type DirectHandler,
  type Handler,
  type ClientStream,
  type Connection,
  type Listener,
  type Message,
  type ServerStream,
  type Transport,
} from "./transport.js";

class MemoryServerStream implements ServerStream {
  private ctrl: AbortController | undefined;
  private reason: unknown;
  ended = false;
  readonly remote = "memory";
  constructor(
    readonly request: Message,
    private readonly onMessage: (m: Message) => void,
    private readonly onEnd: (m?: Message) => void,
    private readonly onAbort: (reason: unknown) => void,
  ) {}
  get signal(): AbortSignal {
    if (!this.ctrl) {
      this.ctrl = new AbortController();
      if (this.reason !== undefined) this.ctrl.abort(this.reason);
    }
    return this.ctrl.signal;
  }
  abort(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.reason = transportError(reason);
    this.onAbort(this.reason);
    this.ctrl?.abort(this.reason);
  }
  send(msg: Message): void {
    if (!this.ended) this.onMessage(msg);
  }
  end(msg?: Message): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(msg);
  }
  ready(): Promise<void> {
    return Promise.resolve();
  }
}

interface Bound {
  handler: Handler;
  live: Set<MemoryServerStream>;
}

export class MemoryTransport implements Transport {
  readonly name = "memory";
  private readonly listeners = new Map<string, Bound>();
  private next = 1;

  async listen(address: string, handler: Handler): Promise<Listener> {
    let addr = address;
    if (!addr || addr.endsWith(":0") || addr === "memory") addr = `memory:${this.next++}`;
    if (this.listeners.has(addr)) throw transportError(`address ${addr} in use`);
    const bound: Bound = { handler, live: new Set() };
    this.listeners.set(addr, bound);
    return {
      address: addr,
      close: async () => {
        this.listeners.delete(addr);
        for (const s of bound.live) s.abort("listener closed");
      },
    };
  }

  async dial(address: string): Promise<Connection> {
    const b = this.listeners.get(address);
    if (!b) throw transportError(`dial ${address}: no listener`);
    const conn = new MemoryConnection(address, this.listeners);
    const direct = b.handler.direct;
    if (direct) {
      // Checked per call: a closed listener must fail calls like a dropped connection.
      conn.direct = (header, request, deadline, signal) =>
        this.listeners.get(address) === b && !conn.closed
          ? direct(header, request, deadline, signal)
          : Promise.reject(transportError(`connection to ${address} closed`));
    }
    return conn;
  }
}

class MemoryConnection implements Connection {
  closed = false;
  direct: DirectHandler | undefined;
  constructor(
    readonly address: string,
    private readonly listeners: Map<string, Bound>,
  ) {}

  private bound(): Bound {
    const b = this.listeners.get(this.address);
    if (!b || this.closed) throw transportError(`connection to ${this.address} closed`);
    return b;
  }

  request(msg: Message, o?: CallTransportOptions): Promise<Message> {
    if (o?.deadline !== undefined) {
      const c = combinedSignal(o);
      return this.request(msg, c.signal ? { signal: c.signal } : {}).finally(c.dispose);
    }
    return new Promise<Message>((resolve, reject) => {
      let b: Bound;
      try {
        b = this.bound();
      } catch (e) {
        return reject(e);
      }
      const s: MemoryServerStream = new MemoryServerStream(
        msg,
        () => {},
        (m) => {
          b.live.delete(s);
          o?.signal?.removeEventListener("abort", onAbort);
          resolve(m ?? { header: {}, body: new Uint8Array() });
        },
        reject,
      );
      const onAbort = () => {
        b.live.delete(s);
        reject(o!.signal!.reason);
        s.abort("cancelled by the client");
      };
      if (o?.signal?.aborted) return reject(o.signal.reason);
      o?.signal?.addEventListener("abort", onAbort, { once: true });
      b.live.add(s);
      b.handler(s);
    });
  }

  stream(msg: Message, o?: CallTransportOptions): ClientStream {
    let s: MemoryServerStream | undefined;
    const queue = new AsyncQueue<Message>(() => s?.abort("cancelled by the client"));
    try {
      const b = this.bound();
      s = new MemoryServerStream(
        msg,
        (m) => queue.push(m),
        (m) => {
          b.live.delete(s!);
          if (m) queue.push(m);
          queue.end();
        },
        (reason) => queue.end(reason),
      );
      b.live.add(s);
      o?.signal?.addEventListener("abort", () => queue.end(), { once: true });
      b.handler(s);
    } catch (e) {
      queue.end(e);
    }
    return Object.assign(queue, { cancel: () => queue.end() }) as unknown as ClientStream;
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}

export function memoryTransport(): MemoryTransport {
  return new MemoryTransport();
}
