/**
 * The default transport: multiplexed, length-prefixed frames over TCP (see frame.ts).
 * Frames written in one tick go out in one socket write.
 */
import net from "node:net";
import type { Logger } from "../logger/logger.js";
import { silentLogger } from "../logger/logger.js";
import { AsyncQueue } from "../util/watcher.js";
import { encodeFrame, FLAGS, FrameDecoder, FrameError, type Frame } from "./frame.js";
import {
  deadlineError,
  joinHostPort,
  splitHostPort,
  transportError,
  type CallTransportOptions,
  type ClientStream,
  type Connection,
  type DialOptions,
  type Listener,
  type Message,
  type ServerStream,
  type StreamHandler,
  type Transport,
} from "./transport.js";

export interface TcpTransportOptions {
  /** Largest frame accepted, in bytes; a bigger one closes the connection. @default 16 MiB */
  maxFrameBytes?: number;
  logger?: Logger;
}

const DEFAULTS = { maxFrameBytes: 16 * 1024 * 1024 };

/** Queues frames and writes them together once per tick. */
class Writer {
  private queue: Buffer[] = [];
  private queued = 0;
  private scheduled = false;
  private flushed: (() => void)[] = [];
  constructor(private readonly sock: net.Socket) {}
  write(b: Buffer): void {
    this.queue.push(b);
    this.queued += b.length;
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(this.flush);
  }
  private readonly flush = (): void => {
    this.scheduled = false;
    const q = this.queue;
    this.queue = [];
    this.queued = 0;
    if (!this.sock.destroyed) this.sock.write(q.length === 1 ? q[0]! : Buffer.concat(q));
    const waiting = this.flushed;
    if (waiting.length > 0) {
      this.flushed = [];
      for (const w of waiting) w();
    }
  };
  /**
   * Resolves when more may be written: at once while little is queued; otherwise after
   * the queue went to the socket and the socket drained (so a fast producer yields to I/O).
   */
  async ready(): Promise<void> {
    if (this.queued >= 65536) await new Promise<void>((resolve) => this.flushed.push(resolve));
    if (!this.sock.writableNeedDrain || this.sock.destroyed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.sock.off("drain", done);
        this.sock.off("close", done);
        resolve();
      };
      this.sock.on("drain", done);
      this.sock.on("close", done);
    });
  }
}

class TcpServerStream implements ServerStream {
  private ctrl: AbortController | undefined;
  ended = false;
  constructor(
    readonly id: number,
    readonly request: Message,
    readonly remote: string,
    private readonly writer: Writer,
    private readonly onDone: (id: number) => void,
  ) {}
  get signal(): AbortSignal {
    return (this.ctrl ??= new AbortController()).signal;
  }
  abort(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    this.onDone(this.id);
    (this.ctrl ??= new AbortController()).abort(transportError(reason));
  }
  send(msg: Message): void {
    if (this.ended) return;
    this.writer.write(encodeFrame(this.id, FLAGS.message, msg.header, msg.body));
  }
  end(msg?: Message): void {
    if (this.ended) return;
    this.ended = true;
    this.onDone(this.id);
    const flags = msg ? FLAGS.message | FLAGS.end : FLAGS.end;
    this.writer.write(encodeFrame(this.id, flags, msg?.header, msg?.body));
  }
  ready(): Promise<void> {
    return this.writer.ready();
  }
}

function serveConnection(sock: net.Socket, handler: StreamHandler, maxFrame: number, logger: Logger): void {
  sock.setNoDelay(true);
  const writer = new Writer(sock);
  const streams = new Map<number, TcpServerStream>();
  const remote = `${sock.remoteAddress}:${sock.remotePort}`;
  const done = (id: number) => streams.delete(id);
  const decoder = new FrameDecoder(maxFrame, (f: Frame) => {
    if (f.flags & FLAGS.reset) {
      streams.get(f.id)?.abort("cancelled by the client");
      return;
    }
    if (!(f.flags & FLAGS.message) || streams.has(f.id)) return; // client streaming is not used yet
    const s = new TcpServerStream(f.id, { header: f.header, body: f.body }, remote, writer, done);
    streams.set(f.id, s);
    handler(s);
  });
  sock.on("data", (chunk: Buffer) => {
    try {
      decoder.push(chunk);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      logger.error("closing connection: bad frame", { remote, error: e.message });
      sock.destroy();
    }
  });
  sock.on("error", () => {});
  sock.on("close", () => {
    for (const s of [...streams.values()]) s.abort("connection closed");
  });
}

interface Pending {
  resolve?: (m: Message) => void;
  reject?: (e: unknown) => void;
  queue?: AsyncQueue<Message>;
  /** Absolute deadline of a unary call, swept by the connection's timer. */
  deadline?: number;
  cleanup?: () => void;
}

/** How often pending calls are checked against their deadlines, in ms. */
const SWEEP_MS = 10;

class TcpConnection implements Connection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly writer: Writer;
  private sweeper: NodeJS.Timeout | undefined;
  private timed = 0;
  closed = false;

  constructor(
    readonly address: string,
    private readonly sock: net.Socket,
    maxFrame: number,
    logger: Logger,
  ) {
    this.writer = new Writer(sock);
    const decoder = new FrameDecoder(maxFrame, (f) => this.onFrame(f));
    sock.on("data", (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (e) {
        logger.error("closing connection: bad frame", { address, error: (e as Error).message });
        sock.destroy();
      }
    });
    sock.on("error", () => {});
    sock.on("close", () => this.fail(`connection to ${address} closed`));
  }

  private settle(id: number, p: Pending): void {
    this.pending.delete(id);
    p.cleanup?.();
    if (p.deadline !== undefined && --this.timed === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private onFrame(f: Frame): void {
    const p = this.pending.get(f.id);
    if (!p) return;
    if (p.resolve) {
      this.settle(f.id, p);
      p.resolve({ header: f.header, body: f.body });
      return;
    }
    if (f.flags & FLAGS.message) p.queue!.push({ header: f.header, body: f.body });
    if (f.flags & (FLAGS.end | FLAGS.reset)) {
      this.pending.delete(f.id);
      p.queue!.end();
    }
  }

  private readonly sweep = (): void => {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline !== undefined && p.deadline <= now) {
        this.settle(id, p);
        this.writer.write(encodeFrame(id, FLAGS.reset, undefined, undefined));
        p.reject!(deadlineError());
      }
    }
  };

  private fail(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    const err = transportError(reason);
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) {
      p.cleanup?.();
      if (p.reject) p.reject(err);
      else p.queue!.end(err);
    }
  }

  private newId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xfffffffe ? 1 : id + 1;
    return id;
  }

  request(msg: Message, o?: CallTransportOptions): Promise<Message> {
    if (this.closed) return Promise.reject(transportError(`connection to ${this.address} closed`));
    const signal = o?.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = this.newId();
    return new Promise<Message>((resolve, reject) => {
      const p: Pending = { resolve, reject };
      if (o?.deadline !== undefined) {
        p.deadline = o.deadline;
        if (this.timed++ === 0) {
          this.sweeper = setInterval(this.sweep, SWEEP_MS);
          this.sweeper.unref();
        }
      }
      if (signal) {
        const onAbort = () => {
          if (this.pending.get(id) !== p) return;
          this.settle(id, p);
          this.writer.write(encodeFrame(id, FLAGS.reset, undefined, undefined));
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        p.cleanup = () => signal.removeEventListener("abort", onAbort);
      }
      this.pending.set(id, p);
      this.writer.write(encodeFrame(id, FLAGS.message | FLAGS.end, msg.header, msg.body));
    });
  }

  stream(msg: Message, o?: CallTransportOptions): ClientStream {
    const id = this.newId();
    const cancel = () => {
      if (this.pending.delete(id)) {
        this.writer.write(encodeFrame(id, FLAGS.reset, undefined, undefined));
        queue.end();
      }
    };
    const queue = new AsyncQueue<Message>(() => {
      // the consumer stopped early (break): tell the server
      if (this.pending.has(id)) cancel();
    });
    if (this.closed) queue.end(transportError(`connection to ${this.address} closed`));
    else {
      this.pending.set(id, { queue });
      this.writer.write(encodeFrame(id, FLAGS.message | FLAGS.end, msg.header, msg.body));
      o?.signal?.addEventListener("abort", cancel, { once: true });
    }
    return Object.assign(queue, { cancel }) as unknown as ClientStream;
  }

  async close(): Promise<void> {
    this.fail(`connection to ${this.address} closed`);
    this.sock.destroy();
  }
}

export class TcpTransport implements Transport {
  readonly name = "tcp";
  private readonly opts: Required<Omit<TcpTransportOptions, "logger">>;
  private readonly logger: Logger;

  constructor(opts: TcpTransportOptions = {}) {
    this.opts = { ...DEFAULTS, ...stripUndefined(opts) } as Required<Omit<TcpTransportOptions, "logger">>;
    this.logger = opts.logger ?? silentLogger();
  }

  listen(address: string, handler: StreamHandler): Promise<Listener> {
    const { host, port } = splitHostPort(address);
    const sockets = new Set<net.Socket>();
    const server = net.createServer((sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
      serveConnection(sock, handler, this.opts.maxFrameBytes, this.logger);
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const a = server.address() as net.AddressInfo;
        resolve({
          address: joinHostPort(host, a.port),
          close: async () => {
            const closed = new Promise<void>((res) => server.close(() => res()));
            // Let replies queued this tick reach the socket, then end each connection gracefully.
            await new Promise<void>((res) => setImmediate(res));
            const ends = [...sockets].map(
              (s) =>
                new Promise<void>((res) => {
                  if (s.destroyed) return res();
                  s.once("close", () => res());
                  s.end();
                }),
            );
            const grace = setTimeout(() => {
              for (const s of sockets) s.destroy();
            }, 1000);
            await Promise.all(ends);
            clearTimeout(grace);
            await closed;
          },
        });
      });
    });
  }

  dial(address: string, o: DialOptions = {}): Promise<Connection> {
    const { host, port } = splitHostPort(address);
    const timeout = o.timeout ?? 5000;
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(() => fail(transportError(`dial ${address}: timed out after ${timeout} ms`)), timeout);
      const onAbort = () => fail(o.signal!.reason);
      o.signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        o.signal?.removeEventListener("abort", onAbort);
        sock.off("error", onError);
      };
      const fail = (e: unknown) => {
        cleanup();
        sock.destroy();
        reject(e);
      };
      const onError = (e: Error) => fail(transportError(`dial ${address}: ${(e as NodeJS.ErrnoException).code ?? e.message}`, e));
      sock.once("error", onError);
      sock.once("connect", () => {
        cleanup();
        resolve(new TcpConnection(address, sock, this.opts.maxFrameBytes, this.logger));
      });
    });
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}

export function tcpTransport(opts: TcpTransportOptions = {}): TcpTransport {
  return new TcpTransport(opts);
}
