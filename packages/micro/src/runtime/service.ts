/** A Runtime that is a client of a `runtime` service (see handler.ts for the endpoints). */
import type { CallOptions, Client } from "../client/client.js";
import { RUNTIME_SERVICE, type ReadResponse } from "./handler.js";
import type { CreateOptions, LogsOptions, ReadOptions, Resource, Runtime, RuntimeLogRecord, ServiceStatus } from "./runtime.js";

export interface ServiceRuntimeOptions {
  client: Client;
  /** Call this `host:port` directly instead of discovering the service (e.g. `micro server`'s). */
  address?: string;
  /** @default "runtime" */
  service?: string;
  /** Per-call timeout in ms (create and delete wait for processes). @default 30000 */
  timeout?: number;
}

export function serviceRuntime(opts: ServiceRuntimeOptions): Runtime {
  const service = opts.service ?? RUNTIME_SERVICE;
  const base: CallOptions = { timeout: opts.timeout ?? 30_000, ...(opts.address ? { address: opts.address } : {}) };
  const call = <T>(endpoint: string, req: unknown) => opts.client.call<T>(service, endpoint, req, base);
  return {
    async create(resource: Resource, o?: CreateOptions) {
      await call("Runtime.Create", { resource, ...(o ? { options: o } : {}) });
    },
    async read(o: ReadOptions = {}): Promise<ServiceStatus[]> {
      return (await call<ReadResponse>("Runtime.Read", o.name ? { name: o.name } : {})).services;
    },
    async update(name: string) {
      await call("Runtime.Update", { name });
    },
    async delete(name: string) {
      await call("Runtime.Delete", { name });
    },
    logs(name: string, o: LogsOptions = {}): AsyncIterable<RuntimeLogRecord> {
      const req = { name, stream: o.stream === true, ...(o.count !== undefined ? { count: o.count } : {}) };
      // A followed stream has no deadline; the signal ends it.
      const co: CallOptions = { ...base, ...(o.stream ? { timeout: 2 ** 31 - 1 } : {}), ...(o.signal ? { signal: o.signal } : {}) };
      return opts.client.stream<RuntimeLogRecord>(service, "Runtime.Logs", req, co);
    },
    async stop() {},
  };
}
