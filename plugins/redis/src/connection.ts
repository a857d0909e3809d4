// One place that opens ioredis connections and turns engine failures into MicroErrors.
import { errors, MicroError } from "@micro-ts/micro";
import { Redis, type RedisOptions } from "ioredis";

export interface RedisConnectOptions {
  /** `redis://[user:password@]host:port[/db]`. @default "redis://127.0.0.1:6379" */
  url?: string;
  /** How long the first connection may take before calls reject with 503, in ms. @default 5000 */
  timeout?: number;
  /** Prefix of every key and channel this plugin uses. @default "micro" */
  namespace?: string;
  /** Extra ioredis options (tls, password, retryStrategy, ...); `url` wins for host and port. */
  redis?: RedisOptions;
}

export const CONNECT_DEFAULTS = Object.freeze({ url: "redis://127.0.0.1:6379", timeout: 5000, namespace: "micro" });

/** Lazily opened connections to one Redis server; failures become 503s naming Redis and the address. */
export class Connection {
  readonly url: string;
  readonly address: string;
  readonly timeout: number;
  readonly namespace: string;
  private readonly extra: RedisOptions;
  private main: Promise<Redis> | undefined;
  private readonly all = new Set<Redis>();
  private closed = false;

  constructor(
    opts: RedisConnectOptions,
    readonly errorId: string,
  ) {
    this.url = opts.url ?? CONNECT_DEFAULTS.url;
    this.timeout = opts.timeout ?? CONNECT_DEFAULTS.timeout;
    this.namespace = opts.namespace ?? CONNECT_DEFAULTS.namespace;
    this.extra = opts.redis ?? {};
    if (!(this.timeout > 0)) throw errors.badRequest(errorId, "timeout must be a positive number of ms");
    let u: URL;
    try {
      u = new URL(this.url);
    } catch (e) {
      throw errors.badRequest(errorId, `invalid Redis url ${this.url}`, e);
    }
    this.address = `${u.hostname}:${u.port || "6379"}`;
  }

  /** The shared command connection, connected on first use. */
  client(): Promise<Redis> {
    if (this.closed) return Promise.reject(this.closedError());
    if (!this.main) {
      const p = this.open();
      this.main = p;
      p.catch(() => {
        if (this.main === p) this.main = undefined; // the next call tries again
      });
    }
    return this.main;
  }

  /** A dedicated connection (blocking reads, subscriptions); the caller closes it with `release`. */
  open(): Promise<Redis> {
    if (this.closed) return Promise.reject(this.closedError());
    const r = new Redis(this.url, {
      lazyConnect: true,
      connectTimeout: this.timeout,
      maxRetriesPerRequest: 20,
      retryStrategy: (times) => Math.min(times * 100, 1000),
      ...this.extra,
    });
    r.on("error", () => undefined); // reported through the failing calls; ioredis reconnects
    this.all.add(r);
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeout} ms`)), this.timeout);
    });
    return Promise.race([r.connect(), deadline]).then(
      () => {
        clearTimeout(timer);
        if (this.closed) {
          this.release(r);
          throw this.closedError();
        }
        return r;
      },
      (e: unknown) => {
        clearTimeout(timer);
        this.release(r);
        throw this.closed ? this.closedError() : this.unavailable(e);
      },
    );
  }

  release(r: Redis): void {
    this.all.delete(r);
    r.disconnect();
  }

  unavailable(cause: unknown): MicroError {
    const why = cause instanceof Error ? cause.message : String(cause);
    return errors.serviceUnavailable(this.errorId, `Redis at ${this.address} is unavailable: ${why}`, cause);
  }

  closedError(): MicroError {
    return errors.serviceUnavailable(this.errorId, "closed");
  }

  /** Runs `fn` on the shared connection, mapping engine failures to 503 and keeping MicroErrors. */
  async run<T>(fn: (r: Redis) => Promise<T>): Promise<T> {
    const r = await this.client();
    try {
      return await fn(r);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  wrap(e: unknown): MicroError {
    if (e instanceof MicroError) return e;
    if (this.closed) return this.closedError();
    return this.unavailable(e);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  close(): void {
    this.closed = true;
    this.main = undefined;
    for (const r of this.all) r.disconnect();
    this.all.clear();
  }
}

/** Escapes a name for use inside a ':'-separated key. */
export const escapeName = (s: string): string => s.replace(/%/g, "%25").replace(/:/g, "%3A");
export const unescapeName = (s: string): string => s.replace(/%3A/g, ":").replace(/%25/g, "%");
