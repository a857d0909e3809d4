/**
 * The one NATS connection a plugin instance owns (or borrows), opened lazily. Every factory
 * takes the same `NatsConnectOptions`.
 */
import { errors, isMicroError, type MicroError } from "@micro-ts/micro";
import { connect, type ConnectionOptions, type NatsConnection } from "nats";

export interface NatsConnectOptions {
  /** NATS server URL(s), `host:port` or `nats://host:port`. @default "127.0.0.1:4222" */
  servers?: string | string[];
  /**
   * An open connection to use instead of dialing one. It is shared, so `close()` leaves it
   * open: its owner closes it.
   */
  connection?: NatsConnection;
  /** How long the first connection may take before failing with a 503, in ms. @default 5000 */
  timeout?: number;
  /** Time between reconnect attempts after the connection dropped, in ms. @default 2000 */
  reconnectTimeWait?: number;
  /** Reconnect attempts after a drop before giving up; -1 retries forever. @default -1 */
  maxReconnectAttempts?: number;
  /** Further nats.js options (credentials, TLS, connection name, ...); the fields above win. */
  nats?: Partial<ConnectionOptions>;
}

export const CONNECT_DEFAULTS = {
  servers: "127.0.0.1:4222",
  timeout: 5000,
  reconnectTimeWait: 2000,
  maxReconnectAttempts: -1,
} as const;

export function validateConnectOptions(id: string, o: NatsConnectOptions): void {
  const servers = o.servers === undefined ? [] : Array.isArray(o.servers) ? o.servers : [o.servers];
  if (o.servers !== undefined && (servers.length === 0 || servers.some((s) => typeof s !== "string" || s === ""))) {
    throw errors.badRequest(id, "servers must be a non-empty address or list of addresses");
  }
  if (o.timeout !== undefined && !(o.timeout > 0)) throw errors.badRequest(id, "timeout must be positive");
}

export function serversOf(o: NatsConnectOptions): string[] {
  const s = o.servers ?? CONNECT_DEFAULTS.servers;
  return Array.isArray(s) ? [...s] : [s];
}

/** Lazily opens one connection; a failed attempt is not remembered, so a later call retries. */
export class Connector {
  private pending: Promise<NatsConnection> | undefined;
  private conn: NatsConnection | undefined;
  private closed = false;

  constructor(
    private readonly id: string,
    private readonly opts: NatsConnectOptions,
  ) {
    validateConnectOptions(id, opts);
  }

  /** The address list, for error messages. */
  get address(): string {
    return serversOf(this.opts).join(",");
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Rejects with 503 once closed. */
  check(what = "closed"): void {
    if (this.closed) throw errors.serviceUnavailable(this.id, `${this.id} ${what}`);
  }

  get(): Promise<NatsConnection> {
    if (this.closed) return Promise.reject(errors.serviceUnavailable(this.id, `${this.id} closed`));
    if (this.conn) return Promise.resolve(this.conn);
    if (this.opts.connection) {
      this.conn = this.opts.connection;
      return Promise.resolve(this.conn);
    }
    this.pending ??= this.dial().then(
      (nc) => {
        this.pending = undefined;
        if (this.closed) {
          void nc.close();
          throw errors.serviceUnavailable(this.id, `${this.id} closed`);
        }
        this.conn = nc;
        return nc;
      },
      (e: unknown) => {
        this.pending = undefined;
        throw e;
      },
    );
    return this.pending;
  }

  private async dial(): Promise<NatsConnection> {
    const o = this.opts;
    try {
      return await connect({
        ...o.nats,
        servers: serversOf(o),
        timeout: o.timeout ?? CONNECT_DEFAULTS.timeout,
        reconnectTimeWait: o.reconnectTimeWait ?? CONNECT_DEFAULTS.reconnectTimeWait,
        maxReconnectAttempts: o.maxReconnectAttempts ?? CONNECT_DEFAULTS.maxReconnectAttempts,
      });
    } catch (e) {
      throw this.unreachable(e);
    }
  }

  unreachable(e: unknown): MicroError {
    const why = e instanceof Error ? e.message : String(e);
    return errors.serviceUnavailable(this.id, `cannot connect to NATS at ${this.address}: ${why}`, e);
  }

  /** Closes the connection if this instance dialed it. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const nc = this.conn ?? (await this.pending?.catch(() => undefined));
    this.conn = undefined;
    if (nc && !this.opts.connection) await nc.drain().catch(() => nc.close());
  }
}

/** Maps a failed NATS operation to a MicroError: 503 (retryable) unless it is one already. */
export function natsError(id: string, what: string, e: unknown): MicroError {
  if (isMicroError(e)) return e;
  const why = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | undefined)?.code;
  if (code === "TIMEOUT" || code === "408") return errors.gatewayTimeout(id, `${what}: NATS timed out (${why})`, e);
  return errors.serviceUnavailable(id, `${what}: ${why}`, e);
}
