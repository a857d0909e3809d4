/**
 * The tools of a registry, kept live: read on demand, and while someone listens, watched so a
 * service that comes or goes is reported once its tools actually change (a TTL renewal is not).
 */
import type { Logger, Registry, ServiceRecord, Watcher } from "@micro-ts/micro";
import { toolEntries, type ToolEntriesOptions, type ToolEntry } from "./tools.js";

export interface ToolCatalogOptions extends ToolEntriesOptions {
  registry: Registry;
  /** Coalesces bursts of registry events (a service registering many nodes), in ms. @default 50 */
  settle?: number;
  logger?: Logger;
}

export class ToolCatalog {
  readonly #o: ToolCatalogOptions;
  readonly #listeners = new Set<() => void>();
  #watcher: Watcher | undefined;
  #cached: Promise<ToolEntry[]> | undefined;
  /** The signature of the tools the listeners last heard about. */
  #signature = "";
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(o: ToolCatalogOptions) {
    if (!o?.registry || typeof o.registry.listServices !== "function") throw new TypeError("mcp: `registry` is required");
    this.#o = { ...o };
  }

  /** The current tools, sorted by name. Cached while watching; read afresh otherwise. */
  list(): Promise<ToolEntry[]> {
    if (this.#watcher && this.#cached) return this.#cached;
    const p = this.#read();
    if (this.#watcher) {
      this.#cached = p;
      p.catch(() => {
        if (this.#cached === p) this.#cached = undefined;
      });
    }
    return p;
  }

  async find(name: string): Promise<ToolEntry | undefined> {
    return (await this.list()).find((t) => t.tool.name === name);
  }

  /** Calls `fn` whenever the tools change; the first listener starts the registry watch. Returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    if (!this.#watcher && !this.#closed) this.#watch();
    return () => {
      this.#listeners.delete(fn);
      if (this.#listeners.size === 0) this.#unwatch();
    };
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#listeners.clear();
    this.#unwatch();
  }

  async #read(): Promise<ToolEntry[]> {
    const listed = await this.#o.registry.listServices();
    // Some registries list records without their endpoints: fetch those in full.
    const records: ServiceRecord[] = [];
    await Promise.all(
      listed.map(async (r) => {
        if (r.endpoints && r.endpoints.length > 0) return void records.push(r);
        try {
          records.push(...(await this.#o.registry.getService(r.name)).filter((x) => x.version === r.version));
        } catch {
          // gone between the two calls
        }
      }),
    );
    return toolEntries(records, this.#o);
  }

  #watch(): void {
    let w: Watcher;
    try {
      w = this.#o.registry.watch();
    } catch (e) {
      this.#o.logger?.warn("mcp: cannot watch the registry", { error: String(e) });
      return;
    }
    this.#watcher = w;
    this.#cached = undefined;
    // The baseline the first change is compared with.
    this.list().then(
      (t) => (this.#signature ||= signature(t)),
      () => {},
    );
    void (async () => {
      try {
        for await (const _ of w) this.#changed();
      } catch (e) {
        this.#o.logger?.warn("mcp: registry watch failed", { error: String(e) });
      }
      if (this.#watcher !== w) return;
      // The watch ended by itself (the registry went away): re-read on demand from now on.
      this.#watcher = undefined;
      this.#cached = undefined;
    })();
  }

  #unwatch(): void {
    const w = this.#watcher;
    this.#watcher = undefined;
    this.#cached = undefined;
    this.#signature = "";
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    w?.stop();
  }

  #changed(): void {
    this.#cached = undefined;
    if (this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#cached = undefined;
      this.list().then(
        (tools) => {
          const s = signature(tools);
          if (s === this.#signature || this.#closed) return;
          this.#signature = s;
          for (const fn of [...this.#listeners]) fn();
        },
        (e: unknown) => this.#o.logger?.warn("mcp: cannot list the registry", { error: String(e) }),
      );
    }, this.#o.settle ?? 50);
    this.#timer.unref?.();
  }
}

function signature(tools: readonly ToolEntry[]): string {
  return JSON.stringify(tools.map((t) => [t.tool.name, t.tool.description, t.tool.inputSchema]));
}
