/**
 * The CLI's connection to one `micro server` (the current env's address): its core services are
 * called at that address, user services are found through its registry.
 */
import {
  MicroError,
  RpcClient,
  memoryRegistry,
  serviceRuntime,
  tcpTransport,
  type Client,
  type Registry,
  type Runtime,
  type ServiceRecord,
  type Watcher,
} from "@micro-ts/micro";

/** A read-only registry that asks the server's `registry` service (same wire as the core's serviceRegistry). */
function remoteRegistry(core: Client, address: string, timeout: number): Registry {
  const call = <T>(endpoint: string, req: unknown) => core.call<T>("registry", endpoint, req, { address, timeout });
  const readOnly = (): never => {
    throw new Error("the CLI's registry is read-only");
  };
  return {
    name: "cli",
    async close() {},
    async getService(name: string) {
      return (await call<{ services: ServiceRecord[] }>("Registry.GetService", { name })).services ?? [];
    },
    async listServices() {
      return (await call<{ services: ServiceRecord[] }>("Registry.ListServices", {})).services ?? [];
    },
    register: async () => readOnly(),
    deregister: async () => readOnly(),
    watch: (): Watcher => readOnly(),
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
  ) {
    const transport = tcpTransport();
    this.core = new RpcClient({ registry: memoryRegistry(), transport, callDefaults: { timeout, retries: 0 } });
    this.registry = remoteRegistry(this.core, address, timeout);
    this.client = new RpcClient({ registry: this.registry, transport, callDefaults: { timeout, retries: 1 } });
    this.runtime = serviceRuntime({ client: this.core, address, timeout: Math.max(timeout, 30_000) });
  }

  /** Calls an endpoint of a core service (`store`, `config`, `broker`, ...) on the server. */
  callCore<T>(service: string, endpoint: string, req: unknown, o: { signal?: AbortSignal } = {}): Promise<T> {
    return this.core.call<T>(service, endpoint, req, { address: this.address, timeout: this.timeout, ...o });
  }

  streamCore<T>(service: string, endpoint: string, req: unknown, signal?: AbortSignal): AsyncIterable<T> {
    return this.core.stream<T>(service, endpoint, req, { address: this.address, timeout: 2 ** 31 - 1, ...(signal ? { signal } : {}) });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.core.close(), this.client.close()]);
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
