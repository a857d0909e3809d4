/**
 * `etcdConfigSource`: a config Source that reads every key under a prefix into a nested
 * object and watches the prefix (go-micro's etcd config source layout).
 *
 * `<prefix>database/host` = `"db1"` becomes `{ database: { host: "db1" } }`. A value that
 * parses as JSON is used parsed (`5432`, `true`, `{"a":1}`), anything else as a string.
 * A key that is both a value and a parent (`a` and `a/b`) keeps the parent's object.
 */
import { errors, type Source } from "@micro-ts/micro";
import type { Etcd3, Watcher as EtcdWatcher } from "etcd3";
import { Connector, etcdError, type EtcdConnectOptions } from "./connection.js";

const ID = "micro.config.etcd";

export interface EtcdConfigSourceOptions extends EtcdConnectOptions {
  /** The key prefix to read; path segments below it are separated by `/`. @default "/micro/config/" */
  prefix?: string;
  /** The source's name in logs. @default "etcd" */
  name?: string;
}

type Tree = Record<string, unknown>;

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);

function parseValue(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
}

/** Builds the nested object from `path -> raw value` pairs. */
export function treeOf(entries: Iterable<[string, string]>): Tree {
  const root: Tree = {};
  // Shorter paths first, so a parent's value never overwrites an object built under it.
  const sorted = [...entries].sort((a, b) => a[0].split("/").length - b[0].split("/").length);
  for (const [path, raw] of sorted) {
    const parts = path.split("/").filter((p) => p !== "");
    if (parts.length === 0) continue;
    let node = root;
    for (const p of parts.slice(0, -1)) {
      const next = node[p];
      if (isTree(next)) node = next;
      else node = node[p] = {};
    }
    const last = parts[parts.length - 1]!;
    const v = parseValue(raw);
    if (isTree(node[last]) && !isTree(v)) continue;
    node[last] = v;
  }
  return root;
}

export class EtcdConfigSource implements Source {
  readonly name: string;
  readonly prefix: string;
  private readonly conn: Connector;
  /** The revision of the last read: a watch starts right after it, so no change falls in between. */
  private revision: bigint | undefined;
  private readonly watchers = new Set<() => void>();

  constructor(o: EtcdConfigSourceOptions = {}) {
    this.conn = new Connector(ID, o);
    this.name = o.name ?? "etcd";
    this.prefix = o.prefix ?? "/micro/config/";
    if (this.prefix === "") throw errors.badRequest(ID, "prefix must not be empty");
  }

  async read(): Promise<Record<string, unknown>> {
    const c = await this.conn.get();
    try {
      const r = await c.getAll().prefix(this.prefix).exec();
      this.revision = BigInt(r.header.revision);
      return treeOf(r.kvs.map((kv) => [kv.key.toString().slice(this.prefix.length), kv.value.toString()]));
    } catch (e) {
      throw etcdError(ID, `reading ${this.prefix}`, e);
    }
  }

  watch(onChange: () => void): () => void {
    let stopped = false;
    let w: EtcdWatcher | undefined;
    const stop = (): void => {
      if (stopped) return;
      stopped = true;
      this.watchers.delete(stop);
      void w?.cancel().catch(() => undefined);
    };
    this.watchers.add(stop);
    const from = this.revision;
    void (async () => {
      const c: Etcd3 = await this.conn.get();
      let b = c.watch().prefix(this.prefix);
      if (from !== undefined) b = b.startRevision(String(from + 1n));
      const created = await b.create();
      w = created;
      if (stopped) return void created.cancel().catch(() => undefined);
      created.on("data", () => {
        if (!stopped) onChange();
      });
    })().catch(() => undefined);
    return stop;
  }

  /** Stops every watch and closes the client (if this source created it). Idempotent. */
  async close(): Promise<void> {
    for (const stop of [...this.watchers]) stop();
    await this.conn.close();
  }
}

/**
 * A config Source on etcd: `newConfig({ sources: [envSource(), etcdConfigSource({ prefix: "/micro/config/" })] })`.
 * Call its `close()` after `config.close()` to release the etcd client.
 */
export function etcdConfigSource(opts: EtcdConfigSourceOptions = {}): EtcdConfigSource {
  return new EtcdConfigSource({ ...opts });
}
