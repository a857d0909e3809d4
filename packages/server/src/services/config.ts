/**
 * The `config` core service: one JSON document kept in the store (database "micro", table
 * "config", key "config"), behind `Config.Read/Set/Delete` and the streaming `Config.Watch`.
 * Paths are dot paths ("greeter.db.host"; "" is the whole document). serviceSource() in the
 * core is its client.
 */
import { errors, type Context, type Store } from "@micro-ts/micro";
import { Queue, READY } from "./queue.js";

type Tree = Record<string, unknown>;

const SCOPE = { database: "micro", table: "config" } as const;
const KEY = "config";

const isTree = (v: unknown): v is Tree => typeof v === "object" && v !== null && !Array.isArray(v);
const split = (path: string): string[] => (path ? path.split(".") : []);

function getPath(t: unknown, path: string): unknown {
  let cur = t;
  for (const p of split(path)) {
    if (!isTree(cur)) return undefined;
    cur = cur[p];
  }
  return cur;
}

function setPath(t: Tree, path: string, v: unknown): Tree {
  const parts = split(path);
  if (parts.length === 0) {
    if (!isTree(v)) throw errors.badRequest("micro.config", "the whole document must be an object");
    return v;
  }
  let cur = t;
  for (const p of parts.slice(0, -1)) {
    if (!isTree(cur[p])) cur[p] = {};
    cur = cur[p] as Tree;
  }
  cur[parts.at(-1)!] = v;
  return t;
}

function deletePath(t: Tree, path: string): Tree {
  const parts = split(path);
  if (parts.length === 0) return {};
  let cur: unknown = t;
  for (const p of parts.slice(0, -1)) {
    if (!isTree(cur)) return t;
    cur = cur[p];
  }
  if (isTree(cur)) delete cur[parts.at(-1)!];
  return t;
}

/** Two dot paths overlap when one is the other or lies under it. */
const overlaps = (a: string, b: string): boolean => !a || !b || a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

export class ConfigHandler {
  private readonly watchers = new Set<{ path: string; out: Queue<{ path: string }> }>();
  /** Writes are applied one at a time so concurrent sets never lose each other. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly store: Store) {}

  async read(req: { path?: string }): Promise<{ value: unknown }> {
    return { value: getPath(await this.load(), req.path ?? "") ?? null };
  }

  async set(req: { path?: string; value?: unknown }): Promise<Record<string, never>> {
    if (req.value === undefined) throw errors.badRequest("micro.config", "value is required");
    await this.update(req.path ?? "", (t, p) => setPath(t, p, req.value));
    return {};
  }

  async delete(req: { path?: string }): Promise<Record<string, never>> {
    await this.update(req.path ?? "", deletePath);
    return {};
  }

  /** `{ ready: true }`, then `{ path }` each time something at or under the watched path changed. */
  async *watch(req: { path?: string }, ctx: Context): AsyncGenerator<{ path: string } | typeof READY> {
    const w = { path: req.path ?? "", out: new Queue<{ path: string }>().endOn(ctx.signal) };
    this.watchers.add(w);
    try {
      yield READY;
      yield* w.out;
    } finally {
      this.watchers.delete(w);
    }
  }

  private async load(): Promise<Tree> {
    try {
      const [r] = await this.store.read(KEY, SCOPE);
      return isTree(r?.value) ? (r.value as Tree) : {};
    } catch (e) {
      if (e instanceof Error && (e as { code?: unknown }).code === 404) return {};
      throw e;
    }
  }

  private update(path: string, fn: (t: Tree, path: string) => Tree): Promise<void> {
    const run = async () => {
      const next = fn(await this.load(), path);
      await this.store.write({ key: KEY, value: next as never }, SCOPE);
      for (const w of this.watchers) if (overlaps(w.path, path)) w.out.push({ path });
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => {});
    return p;
  }

  /** Ends every watch stream (server shutdown). */
  close(): void {
    for (const w of this.watchers) w.out.end();
  }
}
