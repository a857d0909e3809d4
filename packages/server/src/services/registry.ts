/**
 * The `registry` core service: a memory registry (nodes expire after their TTL unless
 * renewed) behind `Registry.Register/Deregister/GetService/ListServices` and the streaming
 * `Registry.Watch`. serviceRegistry() in the core is its client.
 */
import { errors, type Context, type Registry, type RegistryEvent, type ServiceRecord } from "@micro-ts/micro";
import { Queue, READY } from "./queue.js";

export class RegistryHandler {
  private readonly streams = new Set<Queue<RegistryEvent>>();

  constructor(private readonly registry: Registry) {}

  async register(req: { service?: ServiceRecord; ttl?: number }): Promise<Record<string, never>> {
    const s = req.service;
    if (!s || typeof s.name !== "string" || !s.name || !Array.isArray(s.nodes)) {
      throw errors.badRequest("registry", "a service record with a name and nodes is required");
    }
    const ttl = Number(req.ttl ?? 0);
    await this.registry.register(s, Number.isFinite(ttl) && ttl > 0 ? { ttl } : {});
    return {};
  }

  async deregister(req: { service?: ServiceRecord }): Promise<Record<string, never>> {
    if (!req.service?.name) throw errors.badRequest("registry", "a service record is required");
    await this.registry.deregister(req.service);
    return {};
  }

  async getService(req: { name?: string }): Promise<{ services: ServiceRecord[] }> {
    if (!req.name) throw errors.badRequest("registry", "name is required");
    return { services: await this.registry.getService(req.name) };
  }

  async listServices(): Promise<{ services: ServiceRecord[] }> {
    return { services: await this.registry.listServices() };
  }

  /** `{ ready: true }`, then every change from now on (of one service, when named). */
  async *watch(req: { service?: string }, ctx: Context): AsyncGenerator<RegistryEvent | typeof READY> {
    const w = this.registry.watch(req.service ? { service: req.service } : {});
    const q = new Queue<RegistryEvent>().endOn(ctx.signal);
    this.streams.add(q);
    void (async () => {
      try {
        for await (const ev of w) q.push(ev);
      } finally {
        q.end();
      }
    })();
    try {
      yield READY;
      yield* q;
    } finally {
      this.streams.delete(q);
      w.stop();
    }
  }

  /** Ends every watch stream (server shutdown). */
  close(): void {
    for (const q of this.streams) q.end();
  }
}
