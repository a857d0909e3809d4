/**
 * The one etcd client a plugin instance owns (or borrows), opened lazily and probed once so
 * an unreachable cluster fails fast with a 503 naming etcd and the address. Every factory
 * takes the same `EtcdConnectOptions`.
 */
import { errors, isMicroError, type MicroError } from "@micro-ts/micro";
import { Etcd3, type IOptions } from "etcd3";

export interface EtcdConnectOptions {
  /** etcd endpoint(s), `host:port` or `http://host:port`. @default "127.0.0.1:2379" */
  hosts?: string | string[];
  /**
   * An open client to use instead of creating one. It is shared, so `close()` leaves it
   * open: its owner closes it.
   */
  client?: Etcd3;
  /**
   * How long connecting and each unary request may take before failing, in ms
   * (503 when the cluster cannot be reached, 504 when a request runs out of time). @default 5000
   */
  timeout?: number;
  /** Further etcd3 options (TLS credentials, auth, gRPC options); the fields above win. */
  etcd?: Partial<IOptions>;
}

export const CONNECT_DEFAULTS = { hosts: "127.0.0.1:2379", timeout: 5000 } as const;

export function hostsOf(o: EtcdConnectOptions): string[] {
  const h = o.hosts ?? CONNECT_DEFAULTS.hosts;
  return Array.isArray(h) ? [...h] : [h];
}

export function validateConnectOptions(id: string, o: EtcdConnectOptions): void {
  if (o.hosts !== undefined && (hostsOf(o).length === 0 || hostsOf(o).some((s) => typeof s !== "string" || s === ""))) {
    throw errors.badRequest(id, "hosts must be a non-empty address or list of addresses");
  }
  if (o.timeout !== undefined && !(o.timeout > 0)) throw errors.badRequest(id, "timeout must be positive");
}

/** Rejects with `err()` after `ms` unless `p` settles first. */
export function deadline<T>(p: Promise<T>, ms: number, err: () => unknown): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(err()), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Lazily creates one client and checks it reaches the cluster; a failed attempt is not remembered. */
export class Connector {
  private pending: Promise<Etcd3> | undefined;
  private client: Etcd3 | undefined;
  private closed = false;
  readonly timeout: number;

  constructor(
    private readonly id: string,
    private readonly opts: EtcdConnectOptions,
  ) {
    validateConnectOptions(id, opts);
    this.timeout = opts.timeout ?? CONNECT_DEFAULTS.timeout;
  }

  /** The endpoint list, for error messages. */
  get address(): string {
    return hostsOf(this.opts).join(",");
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Throws 503 once closed. */
  check(): void {
    if (this.closed) throw errors.serviceUnavailable(this.id, `${this.id} closed`);
  }

  get(): Promise<Etcd3> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(this.id, `${this.id} closed`));
    if (this.client) return Promise.resolve(this.client);
    if (this.opts.client) {
      this.client = this.opts.client;
      return Promise.resolve(this.client);
    }
    this.pending ??= this.dial().then(
      (c) => {
        this.pending = undefined;
        if (this.closed) {
          c.close();
          throw errors.serviceUnavailable(this.id, `${this.id} closed`);
        }
        this.client = c;
        return c;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  private async dial(): Promise<Etcd3> {
    const t = this.timeout;
    const c = new Etcd3({
      ...this.opts.etcd,
      hosts: hostsOf(this.opts),
      dialTimeout: t,
      // Unary calls get a deadline; watch and keepalive streams live on.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + t }),
    });
    try {
      await deadline(c.maintenance.status(), t, () => new Error(`no answer within ${t} ms`));
      return c;
    } catch (e) {
      c.close();
      throw this.unreachable(e);
    }
  }

  unreachable(e: unknown): MicroError {
    const why = e instanceof Error ? e.message : String(e);
    return errors.serviceUnavailable(this.id, `cannot connect to etcd at ${this.address}: ${why}`, e);
  }

  /** Closes the client if this instance created it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const c = this.client ?? (await this.pending?.catch(() => undefined));
    this.client = undefined;
    if (c && !this.opts.client) c.close();
  }
}

/** Maps a failed etcd operation to a MicroError: 504 on a deadline, else 503 (retryable). */
export function etcdError(id: string, what: string, e: unknown): MicroError {
  if (isMicroError(e)) return e;
  const why = e instanceof Error ? e.message : String(e);
  const name = e instanceof Error ? e.constructor.name : "";
  if (name === "GRPCDeadlineExceededError") return errors.gatewayTimeout(id, `${what}: etcd timed out (${why})`, e);
  return errors.serviceUnavailable(id, `${what}: etcd: ${why}`, e);
}
