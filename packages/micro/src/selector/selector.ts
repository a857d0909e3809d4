/**
 * The selector picks a node of a service for each call: random (default) or round-robin,
 * after filters (version, node id, metadata), skipping for a short while nodes that just failed.
 */
import type { Node, ServiceRecord } from "../registry/registry.js";

/** Narrows the candidate records (e.g. to one version or one node). */
export type Filter = (records: ServiceRecord[]) => ServiceRecord[];

/** Returns the next node to try; undefined when there is none left. Never repeats a node. */
export type Next = () => Node | undefined;

export interface SelectOptions {
  filters?: Filter[];
}

export interface Selector {
  readonly name: string;
  select(records: ServiceRecord[], o?: SelectOptions): Next;
  /** Reports the outcome of a call to a node; failed nodes are avoided for a while. */
  mark(node: Node, err?: unknown): void;
}

export interface SelectorOptions {
  /** "random" or "round-robin". @default "random" */
  strategy?: "random" | "round-robin";
  /** How long a failed node is skipped, in ms. @default 5000 */
  penalty?: number;
}

export function filterVersion(version: string): Filter {
  return (rs) => rs.filter((r) => r.version === version);
}

export function filterNode(id: string): Filter {
  return (rs) =>
    rs.map((r) => ({ ...r, nodes: r.nodes.filter((n) => n.id === id || n.address === id) })).filter((r) => r.nodes.length > 0);
}

export function filterMetadata(key: string, value: string): Filter {
  return (rs) =>
    rs
      .map((r) => ({ ...r, nodes: r.nodes.filter((n) => n.metadata?.[key] === value || r.metadata?.[key] === value) }))
      .filter((r) => r.nodes.length > 0);
}

class DefaultSelector implements Selector {
  readonly name: string;
  private readonly penalty: number;
  private readonly failed = new Map<string, number>();
  private readonly counters = new Map<string, number>();

  constructor(private readonly strategy: "random" | "round-robin", penalty: number) {
    this.name = strategy;
    this.penalty = penalty;
  }

  select(records: ServiceRecord[], o: SelectOptions = {}): Next {
    let rs = records;
    for (const f of o.filters ?? []) rs = f(rs);
    const all: Node[] = [];
    for (const r of rs) for (const n of r.nodes) all.push(n);
    const now = Date.now();
    let healthy = all;
    if (this.failed.size > 0) {
      healthy = all.filter((n) => {
        const until = this.failed.get(n.id);
        if (until === undefined) return true;
        if (until <= now) {
          this.failed.delete(n.id);
          return true;
        }
        return false;
      });
    }
    // Failed nodes go last rather than nowhere: better a doubtful node than no call.
    const order = healthy.length === all.length ? all : healthy.concat(all.filter((n) => !healthy.includes(n)));
    const primary = healthy.length;
    let start: number;
    if (primary === 0) start = 0;
    else if (this.strategy === "round-robin") {
      const key = rs[0]?.name ?? "";
      const c = this.counters.get(key) ?? 0;
      this.counters.set(key, c + 1);
      start = c % primary;
    } else start = Math.floor(Math.random() * primary);
    let i = 0;
    return () => {
      if (i >= order.length) return undefined;
      const idx = i < primary ? (start + i) % primary : i;
      i++;
      return order[idx];
    };
  }

  mark(node: Node, err?: unknown): void {
    if (err === undefined) {
      if (this.failed.size > 0) this.failed.delete(node.id);
    } else this.failed.set(node.id, Date.now() + this.penalty);
  }
}

export function randomSelector(o: Omit<SelectorOptions, "strategy"> = {}): Selector {
  return new DefaultSelector("random", o.penalty ?? 5000);
}

export function roundRobinSelector(o: Omit<SelectorOptions, "strategy"> = {}): Selector {
  return new DefaultSelector("round-robin", o.penalty ?? 5000);
}

export function createSelector(o: SelectorOptions = {}): Selector {
  return o.strategy === "round-robin" ? roundRobinSelector(o) : randomSelector(o);
}
