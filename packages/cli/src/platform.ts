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
  type Registry,
  type Runtime,
} from "@micro-ts/micro";

export class Platform {
  readonly core: RpcClient;
  readonly client: RpcClient;
  readonly registry: Registry;
  readonly runtime: Runtime;

  constructor(
    readonly address: string,
    readonly env: string,
    readonly timeout = 5000,
  ) {
    const transport = tcpTransport();
    this.core = new RpcClient({ registry: memoryRegistry(), transport, callDefaults: { timeout, retries: 0 } });
    this.registry = serviceRegistry({ address, timeout, transport });
    this.client = new RpcClient({ registry: this.registry, transport, callDefaults: { timeout, retries: 1 } });
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
