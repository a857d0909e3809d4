// One place that opens the pg pool and turns engine failures into MicroErrors.
import { errors, MicroError } from "@micro-ts/micro";
import pg from "pg";

export interface PostgresConnectOptions {
  /** `postgres://user@host:port/database`. @default "postgres://postgres@127.0.0.1:5432/postgres" */
  url?: string;
  /** Extra pg.Pool options (max, ssl, password, ...); `url` wins when both name the server. */
  pool?: pg.PoolConfig;
  /** How long a connection attempt may take before calls reject with 503, in ms. @default 5000 */
  timeout?: number;
}

export const CONNECT_DEFAULTS = Object.freeze({ url: "postgres://postgres@127.0.0.1:5432/postgres", timeout: 5000 });

/** SQLSTATE classes that mean "the server is not there right now". */
const UNAVAILABLE = /^(08|57P0[1-3]|53300)/;

export class Connection {
  readonly pool: pg.Pool;
  readonly address: string;
  private closed = false;

  constructor(
    opts: PostgresConnectOptions,
    readonly errorId: string,
  ) {
    const timeout = opts.timeout ?? CONNECT_DEFAULTS.timeout;
    if (!(timeout > 0)) throw errors.badRequest(errorId, "timeout must be a positive number of ms");
    const url = opts.url ?? (opts.pool ? undefined : CONNECT_DEFAULTS.url);
    let host = opts.pool?.host ?? "127.0.0.1";
    let port = String(opts.pool?.port ?? 5432);
    if (url) {
      try {
        const u = new URL(url);
        host = u.hostname || host;
        port = u.port || "5432";
      } catch (e) {
        throw errors.badRequest(errorId, `invalid PostgreSQL url ${url}`, e);
      }
    }
    this.address = `${host}:${port}`;
    this.pool = new pg.Pool({
      connectionTimeoutMillis: timeout,
      query_timeout: undefined,
      ...opts.pool,
      ...(url ? { connectionString: url } : {}),
    });
    // An idle client whose server went away: the pool drops it and opens a new one on demand.
    this.pool.on("error", () => undefined);
  }

  /** Maps a failure to a MicroError: 503 naming PostgreSQL and the address when the server is unreachable. */
  wrap(e: unknown): MicroError {
    if (e instanceof MicroError) return e;
    if (this.closed) return errors.serviceUnavailable(this.errorId, "closed");
    const code = (e as { code?: unknown })?.code;
    const why = e instanceof Error ? e.message : String(e);
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code) && !UNAVAILABLE.test(code)) {
      return errors.internalServerError(this.errorId, `PostgreSQL at ${this.address}: ${why} (${code})`, e);
    }
    return errors.serviceUnavailable(this.errorId, `PostgreSQL at ${this.address} is unavailable: ${why || code}`, e);
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[]): Promise<pg.QueryResult<R>> {
    if (this.closed) throw errors.serviceUnavailable(this.errorId, "closed");
    try {
      return await this.pool.query<R>(text, values);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** Runs `fn` in a transaction on one client. */
  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    if (this.closed) throw errors.serviceUnavailable(this.errorId, "closed");
    let c: pg.PoolClient;
    try {
      c = await this.pool.connect();
    } catch (e) {
      throw this.wrap(e);
    }
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      c.release();
      return out;
    } catch (e) {
      await c.query("ROLLBACK").catch(() => undefined);
      c.release();
      throw this.wrap(e);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => undefined);
  }
}

/** A double-quoted SQL identifier. */
export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`;

/** Escapes LIKE wildcards (% _ and the escape character itself) so the text matches literally. */
export const escapeLike = (s: string): string => s.replace(/[\\%_]/g, (c) => `\\${c}`);
