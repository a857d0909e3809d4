// newConfig: merges sources in order, keeps each source's last good tree, notifies watchers.
import { badRequest, MicroError, serviceUnavailable } from "../errors/errors.js";
import { AsyncQueue } from "../util/watcher.js";
import type { Config, ConfigOptions, Source, Value, WatchOptions } from "./config.js";
import { envSource } from "./sources.js";
import { formatIssues, type StandardSchemaV1 } from "./standard-schema.js";
import { clone, deletePath, getPath, merge, redactTree, setPath, type Tree } from "./tree.js";
import { makeValue } from "./value.js";

const ID = "micro.config";

interface Layer {
  source: Source;
  data: Tree;
  stop?: () => void;
  reading: boolean;
  again: boolean;
}

interface Watch {
  path: string;
  last: string | undefined;
  queue: AsyncQueue<Value>;
}

class DefaultConfig implements Config {
  private readonly layers: Layer[] = [];
  private memory: Tree = {};
  private merged: Tree = {};
  private readonly watches = new Set<Watch>();
  private readonly secrets: ReadonlySet<string>;
  private closed = false;

  constructor(private readonly opts: ConfigOptions) {
    this.secrets = new Set(opts.secret ?? []);
  }

  get sources(): readonly Source[] {
    return this.layers.map((l) => l.source);
  }

  async load(...sources: Source[]): Promise<void> {
    if (this.closed) throw serviceUnavailable(ID, "config closed");
    const datas = await Promise.all(
      sources.map((s) =>
        s.read().catch((e: unknown) => {
          throw e instanceof MicroError ? e : badRequest(ID, `config source ${s.name}: ${String(e)}`, e);
        }),
      ),
    );
    for (const [i, source] of sources.entries()) {
      const layer: Layer = { source, data: datas[i]!, reading: false, again: false };
      this.layers.push(layer);
      const stop = source.watch?.(() => void this.reload(layer));
      if (stop) layer.stop = stop;
    }
    this.update();
  }

  private async reload(layer: Layer): Promise<void> {
    if (this.closed) return;
    if (layer.reading) {
      layer.again = true;
      return;
    }
    layer.reading = true;
    try {
      do {
        layer.again = false;
        try {
          layer.data = await layer.source.read();
          this.update();
        } catch (e) {
          // The last good tree stays active.
          this.opts.logger?.error("config: reload failed, keeping the last good config", { source: layer.source.name, error: e });
        }
      } while (layer.again && !this.closed);
    } finally {
      layer.reading = false;
    }
  }

  private update(): void {
    this.merged = merge(this.layers.reduce<Tree>((acc, l) => merge(acc, l.data), {}), this.memory);
    for (const w of this.watches) {
      const now = JSON.stringify(getPath(this.merged, w.path));
      if (now !== w.last) {
        w.last = now;
        w.queue.push(this.get(w.path));
      }
    }
  }

  get(path: string): Value {
    return makeValue(clone(getPath(this.merged, path)), path, this.secrets);
  }

  set(path: string, v: unknown): void {
    if (!path) throw badRequest(ID, "path is required");
    setPath(this.memory, path, clone(v));
    this.update();
  }

  delete(path: string): void {
    deletePath(this.memory, path);
    this.update();
  }

  async scan<T = unknown>(schema?: StandardSchemaV1<unknown, T>, path = ""): Promise<T> {
    const v = clone(getPath(this.merged, path));
    if (!schema) return v as T;
    const r = await schema["~standard"].validate(v);
    if (r.issues) throw badRequest(ID, `invalid config${path ? ` at ${path}` : ""}: ${formatIssues(r.issues)}`);
    return r.value;
  }

  watch(path: string, o: WatchOptions = {}): AsyncIterable<Value> {
    const w: Watch = { path, last: JSON.stringify(getPath(this.merged, path)), queue: new AsyncQueue<Value>(() => this.watches.delete(w)) };
    if (this.closed || o.signal?.aborted) w.queue.end();
    else {
      this.watches.add(w);
      o.signal?.addEventListener("abort", () => w.queue.end(), { once: true });
    }
    return w.queue;
  }

  redacted(): Record<string, unknown> {
    return redactTree(this.merged, "", this.secrets) as Tree;
  }

  toJSON(): Record<string, unknown> {
    return this.redacted();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const l of this.layers) l.stop?.();
    for (const w of [...this.watches]) w.queue.end();
  }
}

/**
 * Reads every source (default: the environment) and returns the merged config. Rejects with
 * the source's MicroError when one cannot be read (a bad file: 400 naming file and line).
 */
export async function newConfig(opts: ConfigOptions = {}): Promise<Config> {
  const c = new DefaultConfig({ ...opts });
  await c.load(...(opts.sources ?? [envSource()]));
  return c;
}
