/**
 * What the service-backed implementations (registry/service.ts, store/service.ts, ...) share:
 * an RpcClient that calls one core service of a `micro server` by address (no discovery),
 * and streams that reopen themselves when the server restarts.
 */
import type { CallOptions, ResponseStream } from "../client/client.js";
import { RpcClient } from "../client/rpc.js";
import { runWithContext } from "../context/context.js";
import { serviceUnavailable } from "../errors/errors.js";
import { memoryRegistry } from "../registry/memory.js";
import { tcpTransport } from "../transport/tcp.js";
import type { Transport } from "../transport/transport.js";

export interface RemoteOptions {
  /** `host:port` of the micro server's RPC listener, e.g. "127.0.0.1:8081". */
  address: string;
  /** How to reach it. @default tcp */
  transport?: Transport;
  /** Per-call timeout, in ms. @default 5000 */
  timeout?: number;
  /**
   * The token calls carry as `authorization: Bearer <token>` (a server with auth on refuses
   * calls without one), e.g. a service account's `serviceToken(...)`. Undefined sends none.
   */
  token?: () => Promise<string | undefined>;
}

/** The first item of every core-service stream: the server has set the stream up. */
export interface ReadyItem {
  ready: true;
}

export function isReady(x: unknown): x is ReadyItem {
  return typeof x === "object" && x !== null && (x as { ready?: unknown }).ready === true;
}

export function validateRemote(opts: RemoteOptions, what: string): void {
  if (!opts || typeof opts.address !== "string" || !/^.+:\d+$/.test(opts.address)) {
    throw new TypeError(`${what} needs the micro server's address as "host:port"`);
  }
}

/** Calls the endpoints of one core service (`registry`, `store`, ...) at the server's address. */
export class Remote {
  private readonly client: RpcClient;
  private closed = false;

  constructor(
    readonly service: string,
    private readonly opts: RemoteOptions,
  ) {
    validateRemote(opts, service);
    this.client = new RpcClient({
      registry: memoryRegistry(),
      transport: opts.transport ?? tcpTransport(),
      callDefaults: { timeout: opts.timeout ?? 5000, retries: 1 },
    });
  }

  get address(): string {
    return this.opts.address;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The 503 every method rejects with after close. */
  closedError(): Error {
    return serviceUnavailable(`micro.${this.service}`, `the service-backed ${this.service} is closed`);
  }

  /** `o.metadata` with this client's token, unless the caller set an authorization of its own. */
  private async withToken(md: Record<string, string> | undefined): Promise<Record<string, string> | undefined> {
    if (!this.opts.token || (md && Object.keys(md).some((k) => k.toLowerCase() === "authorization"))) return md;
    const t = await this.opts.token();
    return t ? { ...(md ?? {}), authorization: `Bearer ${t}` } : md;
  }

  async call<T>(endpoint: string, req: unknown, o: CallOptions = {}): Promise<T> {
    if (this.closed) throw this.closedError();
    const metadata = await this.withToken(o.metadata);
    return this.client.call<T>(this.service, endpoint, req, { ...o, ...(metadata ? { metadata } : {}), address: this.opts.address });
  }

  stream<T>(endpoint: string, req: unknown, signal?: AbortSignal): ResponseStream<T> {
    const base = { address: this.opts.address, retries: 0, ...(signal ? { signal } : {}) };
    if (!this.opts.token) return this.client.stream<T>(this.service, endpoint, req, base);
    // The token is fetched when iteration starts (it may need a login first).
    let inner: ResponseStream<T> | undefined;
    let cancelled = false;
    const open = async () => {
      const metadata = await this.withToken(undefined);
      return this.client.stream<T>(this.service, endpoint, req, { ...base, ...(metadata ? { metadata } : {}) });
    };
    return {
      cancel: () => {
        cancelled = true;
        inner?.cancel();
      },
      async *[Symbol.asyncIterator]() {
        const s = await open();
        inner = s;
        if (cancelled) return void s.cancel();
        yield* s;
      },
    };
  }

  /** Drops the connections; `final` makes every later call reject with 503. */
  async close(final = true): Promise<void> {
    if (final) this.closed = true;
    await this.client.close();
  }
}

export interface KeptStream {
  /** Resolves when the server confirmed the first stream; rejects if that first attempt failed. */
  readonly ready: Promise<void>;
  /** Ends the stream for good; no reconnect. Idempotent. */
  stop(): void;
}

export interface KeepOptions<T> {
  /** The request, evaluated on every (re)open. */
  request: () => unknown;
  onItem: (item: T) => void;
  /** Called after a reopened stream is ready again (the server restarted). */
  onReconnect?: () => void;
  /** Called when the stream ends for good (stop, or the first attempt failed). */
  onEnd?: (err?: unknown) => void;
  /** Longest wait between reconnect attempts, in ms. @default 1000 */
  maxBackoff?: number;
  /** Keep trying even when the first attempt fails (`ready` then waits for a server). @default false */
  persistent?: boolean;
}

/**
 * Keeps a streaming endpoint open: the first item must be `{ ready: true }`; when the stream
 * fails or ends while not stopped (the server restarted), it is opened again with backoff.
 */
export function keepStream<T>(remote: Remote, endpoint: string, o: KeepOptions<T>): KeptStream {
  let stopped = false;
  let first = true;
  let ctrl = new AbortController();
  let wake: (() => void) | undefined;
  let resolveReady!: () => void;
  let rejectReady!: (e: unknown) => void;
  const ready = new Promise<void>((res, rej) => ((resolveReady = res), (rejectReady = rej)));
  ready.catch(() => {});
  const maxBackoff = o.maxBackoff ?? 1000;

  const loop = async (): Promise<void> => {
    let wait = 20;
    while (!stopped && !remote.isClosed) {
      ctrl = new AbortController();
      try {
        for await (const x of remote.stream<T>(endpoint, o.request(), ctrl.signal)) {
          if (stopped) break;
          if (isReady(x)) {
            wait = 20;
            if (first) {
              first = false;
              resolveReady();
            } else o.onReconnect?.();
            continue;
          }
          o.onItem(x);
        }
      } catch (e) {
        if (first && !stopped && !o.persistent) {
          stopped = true;
          rejectReady(e);
          o.onEnd?.(e);
          return;
        }
      }
      if (stopped || remote.isClosed) break;
      await new Promise<void>((res) => {
        const t = setTimeout(res, wait);
        wake = () => (clearTimeout(t), res());
      });
      wake = undefined;
      wait = Math.min(maxBackoff, wait * 2);
    }
    if (first) rejectReady(remote.closedError());
    o.onEnd?.();
  };
  // A stream outlives the call that opened it: it must not inherit that call's deadline or headers.
  void runWithContext({ metadata: {}, signal: new AbortController().signal }, loop);
  return {
    ready,
    stop: () => {
      if (stopped) return;
      stopped = true;
      ctrl.abort();
      wake?.();
    },
  };
}

/** Bytes ⇄ base64 for JSON on the wire. */
export function toBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64");
}

export function fromBase64(s: string): Uint8Array {
  const b = Buffer.from(s, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
