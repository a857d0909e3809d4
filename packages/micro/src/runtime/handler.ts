/**
 * The runtime over RPC: `RuntimeHandler` serves a Runtime as endpoints `Runtime.Create`,
 * `Runtime.Read`, `Runtime.Update`, `Runtime.Delete` and `Runtime.Logs` (a stream);
 * `serviceRuntime` (service.ts) is the Runtime that calls them. `micro server` mounts the handler
 * on its `runtime` service; `micro run` uses the client.
 */
import { currentContext } from "../context/context.js";
import { badRequest } from "../errors/index.js";
import type { CreateOptions, Resource, Runtime, RuntimeLogRecord, ServiceStatus } from "./runtime.js";

/** The service name the runtime is served under. */
export const RUNTIME_SERVICE = "runtime";

export interface CreateRequest {
  resource: Resource;
  options?: CreateOptions;
}
export interface NameRequest {
  name: string;
}
export interface ReadResponse {
  services: ServiceStatus[];
}
export interface LogsRequest {
  name: string;
  count?: number;
  stream?: boolean;
}

function name(id: string, req: { name?: unknown } | undefined): string {
  if (typeof req?.name !== "string" || req.name === "") throw badRequest(id, "name is required");
  return req.name;
}

export class RuntimeHandler {
  readonly #rt: Runtime;

  constructor(runtime: Runtime) {
    this.#rt = runtime;
  }

  async create(req: CreateRequest): Promise<Record<string, never>> {
    const r = req?.resource;
    if (!r || typeof r.name !== "string" || typeof r.source !== "string") {
      throw badRequest("runtime.create", "resource.name and resource.source are required");
    }
    await this.#rt.create(r, req.options);
    return {};
  }

  async read(req: { name?: string } = {}): Promise<ReadResponse> {
    return { services: await this.#rt.read(req?.name ? { name: req.name } : {}) };
  }

  async update(req: NameRequest): Promise<Record<string, never>> {
    await this.#rt.update(name("runtime.update", req));
    return {};
  }

  async delete(req: NameRequest): Promise<Record<string, never>> {
    await this.#rt.delete(name("runtime.delete", req));
    return {};
  }

  async *logs(req: LogsRequest): AsyncGenerator<RuntimeLogRecord> {
    // The call's signal ends a followed stream when the caller goes away.
    const signal = currentContext()?.signal;
    yield* this.#rt.logs(name("runtime.logs", req), {
      ...(req.count !== undefined ? { count: req.count } : {}),
      stream: req.stream === true,
      ...(signal ? { signal } : {}),
    });
  }
}

// Endpoints take the class name: serve them as `Runtime.*`, as go-micro's runtime service does.
Object.defineProperty(RuntimeHandler, "name", { value: "Runtime" });
