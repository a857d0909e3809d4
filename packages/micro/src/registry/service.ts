/**
 * A registry served by the `registry` core service of a `micro server`:
 *   new Service({ name: "greeter", registry: serviceRegistry({ address: "127.0.0.1:8081" }) })
 * Calls go straight to the server's address. Watchers reopen their stream when the server
 * restarts and then report every known service as updated, since changes were missed meanwhile.
 */
import { AsyncQueue } from "../util/watcher.js";
import { keepStream, Remote, type RemoteOptions } from "../util/remote.js";
import type { RegisterOptions, Registry, RegistryEvent, ServiceRecord, Watcher, WatchOptions } from "./registry.js";

export type ServiceRegistryOptions = RemoteOptions;

/** The name of the core service and its endpoints. */
export const REGISTRY_SERVICE = "registry";

class ServiceRegistry implements Registry {
  readonly name = "service";
  private readonly remote: Remote;
  private readonly watchers = new Set<{ stop(): void }>();
  /** Watch streams not yet confirmed: calls wait for them, so a watch sees what follows it. */
  private readonly opening = new Set<Promise<void>>();

  constructor(opts: ServiceRegistryOptions) {
    this.remote = new Remote(REGISTRY_SERVICE, { ...opts });
  }

  private async settled(): Promise<void> {
    if (this.opening.size > 0) await Promise.all([...this.opening].map((p) => p.catch(() => {})));
  }

  async register(s: ServiceRecord, o: RegisterOptions = {}): Promise<void> {
    await this.settled();
    await this.remote.call("Registry.Register", { service: s, ttl: o.ttl ?? 0 });
  }

  async deregister(s: ServiceRecord): Promise<void> {
    await this.settled();
    await this.remote.call("Registry.Deregister", { service: s });
  }

  async getService(name: string): Promise<ServiceRecord[]> {
    const rsp = await this.remote.call<{ services: ServiceRecord[] }>("Registry.GetService", { name });
    return rsp.services;
  }

  async listServices(): Promise<ServiceRecord[]> {
    const rsp = await this.remote.call<{ services: ServiceRecord[] }>("Registry.ListServices", {});
    return rsp.services;
  }

  watch(o: WatchOptions = {}): Watcher {
    const queue = new AsyncQueue<RegistryEvent>(() => stop());
    if (this.remote.isClosed) queue.end();
    const kept = keepStream<RegistryEvent>(this.remote, "Registry.Watch", {
      request: () => (o.service ? { service: o.service } : {}),
      onItem: (ev) => queue.push(ev),
      onReconnect: () => {
        // Changes made while the server was away are unknown: report what is there now.
        this.listServices().then(
          (all) => {
            for (const s of all) if (!o.service || s.name === o.service) queue.push({ action: "update", service: s, timestamp: Date.now() });
          },
          () => {},
        );
      },
      onEnd: () => queue.end(),
    });
    const entry = { stop: () => stop() };
    const stop = () => {
      kept.stop();
      queue.end();
      this.watchers.delete(entry);
    };
    this.watchers.add(entry);
    const opening = kept.ready;
    this.opening.add(opening);
    void opening.then(
      () => this.opening.delete(opening),
      () => this.opening.delete(opening),
    );
    return Object.assign(queue, { stop }) as unknown as Watcher;
  }

  async close(): Promise<void> {
    for (const w of [...this.watchers]) w.stop();
    await this.remote.close();
  }
}

export function serviceRegistry(opts: ServiceRegistryOptions): Registry {
  return new ServiceRegistry(opts);
}
