/**
 * The CLI's connection to one `micro server` (the current env's address): its core services are
 * called at that address, user services are found through its registry.
 */
import {
  MicroError,
  RpcClient,
  memoryRegistry,
  serviceRegistry,
  serviceRuntime,
  tcpTransport,
  type ClientMiddleware,
  type Registry,
  type Runtime,
} from "@micro-ts/micro";

/** Where the bearer token of the CLI's calls comes from (the stored `micro login`); undefined: none. */
export type TokenSource = () => Promise<string | undefined>;

/** Adds `authorization: Bearer <token>` to calls that carry none, when there is a token. */
function bearer(token: TokenSource): ClientMiddleware {
  return async (req, next) => {
    const md = req.options.metadata ?? {};
    if (!Object.keys(md).some((k) => k.toLowerCase() === "authorization")) {
      const t = await token();
      if (t) req.options.metadata = { ...md, authorization: `Bearer ${t}` };
    }
    return next();
  };
}

export class Platform {
  readonly core: RpcClient;
  readonly client: RpcClient;
  readonly registry: Registry;
  readonly runtime: Runtime;

  constructor(
    readonly address: string,
    readonly env: string,
    readonly timeout = 5000,
    /** The stored login's token (refreshed when due); calls carry it. @default none */
    readonly token: TokenSource = async () => undefined,
  ) {
    const transport = tcpTransport();
    this.core = new RpcClient({ registry: memoryRegistry(), transport, callDefaults: { timeout, retries: 0 } });
    this.registry = serviceRegistry({ address, timeout, transport, token }); // with auth on, the registry wants a token too
    this.client = new RpcClient({ registry: this.registry, transport, callDefaults: { timeout, retries: 1 } });
    this.core.use(bearer(token));
    this.client.use(bearer(token));
    // Found through the registry: micro server registers its runtime service wherever it listens.
    this.runtime = serviceRuntime({ client: this.client, timeout: Math.max(timeout, 30_000) });
  }

  /** Calls an endpoint of a core service (`store`, `config`, `broker`, ...) on the server. */
  callCore<T>(service: string, endpoint: string, req: unknown, o: { signal?: AbortSignal } = {}): Promise<T> {
    return this.core.call<T>(service, endpoint, req, { address: this.address, timeout: this.timeout, ...o });
  }

  streamCore<T>(service: string, endpoint: string, req: unknown, signal?: AbortSignal): AsyncIterable<T> {
    return this.core.stream<T>(service, endpoint, req, { address: this.address, timeout: 2 ** 31 - 1, ...(signal ? { signal } : {}) });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.core.close(), this.client.close(), this.registry.close()]);
  }
}

/** True when an error means the server itself could not be reached. */
export function isUnreachable(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENOTFOUND" || code === "ECONNRESET") return true;
  if (err instanceof MicroError) {
    if (err.code === 503 || err.code === 502) return true;
    return /ECONNREFUSED|connect|dial/i.test(err.detail) && err.code >= 500;
  }
  const cause = (err as { cause?: unknown } | undefined)?.cause;
  return cause !== undefined && cause !== err && isUnreachable(cause);
}
