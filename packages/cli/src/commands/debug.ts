/**
 * micro stats / health / trace, and `micro logs` for services the runtime did not start: each
 * reads the `Debug` handler every service answers (Debug.Log, Debug.Logs, Debug.Stats,
 * Debug.Health, Debug.Trace), node by node, through the registry of the current env's server.
 */
import type { Command } from "commander";
import {
  formatPretty,
  MicroError,
  type HealthResponse,
  type LogRecord,
  type LogResponse,
  type Span,
  type StatsSnapshot,
  type TraceResponse,
} from "@micro-ts/micro";
import type { Ctx } from "../context.js";
import { UsageError } from "../flags.js";
import { table } from "../output.js";
import type { Wrap } from "./runtime.js";
import { notRunning } from "./services.js";

interface Node {
  id: string;
  address: string;
  version: string;
}

/** Every node of a service; a 404 from the registry or no nodes: not running. */
async function nodesOf(ctx: Ctx, name: string): Promise<Node[]> {
  const p = await ctx.platform();
  let recs;
  try {
    recs = await p.registry.getService(name);
  } catch (err) {
    if (err instanceof MicroError && err.code === 404) throw notRunning(name);
    throw err;
  }
  const nodes = recs.flatMap((r) => r.nodes.map((n) => ({ id: n.id, address: n.address, version: r.version })));
  if (nodes.length === 0) throw notRunning(name);
  return nodes;
}

/** Calls a Debug endpoint on one node. */
async function onNode<T>(ctx: Ctx, name: string, node: Node, endpoint: string, req: unknown): Promise<T> {
  return (await ctx.platform()).core.call<T>(name, endpoint, req, { address: node.address, timeout: ctx.timeout });
}

function logLine(r: LogRecord): string {
  return formatPretty(r).trimEnd();
}

/**
 * `micro logs NAME` for any registered service: the records of its logger's ring buffer
 * (Debug.Log, merged across nodes by time), then with `follow` every new one (Debug.Logs on
 * every node) until `signal` aborts.
 */
export async function serviceLogs(ctx: Ctx, name: string, o: { count: number; follow: boolean; signal: AbortSignal }): Promise<void> {
  const nodes = await nodesOf(ctx, name);
  const print = (r: LogRecord) => ctx.out.print(r, () => logLine(r));
  if (!o.follow) {
    const all = await Promise.all(nodes.map((n) => onNode<LogResponse>(ctx, name, n, "Debug.Log", { count: o.count })));
    const records = all.flatMap((a) => a.records).sort((a, b) => a.time - b.time);
    for (const r of o.count === 0 ? [] : records.slice(-o.count)) print(r);
    return;
  }
  const p = await ctx.platform();
  await Promise.all(
    nodes.map(async (n) => {
      const s = p.core.stream<LogRecord>(name, "Debug.Logs", { count: o.count, stream: true }, { address: n.address, timeout: 2 ** 31 - 1, signal: o.signal });
      for await (const r of s) print(r);
    }),
  );
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function ms(n: number): string {
  return n >= 100 ? `${n.toFixed(0)}ms` : n >= 1 ? `${n.toFixed(1)}ms` : `${n.toFixed(2)}ms`;
}

function statsText(s: StatsSnapshot, address: string): string {
  const head = [
    `${s.service} ${s.version}  node ${s.id} (${address})`,
    `  uptime ${s.uptime.toFixed(1)}s  rss ${mb(s.memory.rss)}  heap ${mb(s.memory.heapUsed)}  event-loop p99 ${ms(s.eventLoop.p99)}`,
    `  requests ${s.requests}  errors ${s.errors}  in flight ${s.inflight}`,
  ];
  if (s.endpoints.length === 0) return head.join("\n");
  const rows = s.endpoints.map((e) => [e.name, String(e.requests), String(e.errors), String(e.inflight), ms(e.latency.p50), ms(e.latency.p95), ms(e.latency.p99), ms(e.latency.max)]);
  const t = table(["ENDPOINT", "REQUESTS", "ERRORS", "INFLIGHT", "P50", "P95", "P99", "MAX"], rows);
  return [...head, "", ...t.split("\n").map((l) => `  ${l}`)].join("\n");
}

interface NodeHealth {
  id: string;
  address: string;
  version: string;
  status: "ok" | "degraded" | "failing";
  checks?: HealthResponse["checks"];
  error?: string;
}

async function nodeHealth(ctx: Ctx, name: string, n: Node): Promise<NodeHealth> {
  const base = { id: n.id, address: n.address, version: n.version };
  try {
    const h = await onNode<HealthResponse>(ctx, name, n, "Debug.Health", {});
    return { ...base, status: h.status === "ok" ? "ok" : "degraded", checks: h.checks ?? {} };
  } catch (err) {
    // A node without a Debug handler (an older framework, `debug: false`) still answered: it is up.
    if (err instanceof MicroError && err.code === 404) return { ...base, status: "ok" };
    const e = err instanceof MicroError ? `${err.detail} (${err.code})` : (err as Error).message;
    return { ...base, status: "failing", error: e };
  }
}

function healthText(list: NodeHealth[]): string {
  const rows = list.map((r) => {
    const failed = Object.entries(r.checks ?? {}).filter(([, c]) => c.status !== "ok");
    const why = r.error ?? failed.map(([k, c]) => `${k}: ${c.error ?? "failing"}`).join("; ");
    return [r.id, r.address, r.version, why ? `${r.status}: ${why}` : r.status];
  });
  return table(["NODE", "ADDRESS", "VERSION", "STATUS"], rows);
}

/** `micro health NAME`: Debug.Health on every node; exit 1 unless every node is ok. */
export async function health(ctx: Ctx, name: string): Promise<void> {
  const nodes = await nodesOf(ctx, name);
  const list = await Promise.all(nodes.map((n) => nodeHealth(ctx, name, n)));
  ctx.out.print(list, () => healthText(list));
  if (list.some((r) => r.status !== "ok")) process.exitCode = 1;
}

/** Collects the spans of one trace from every node of every registered service. */
async function collectTrace(ctx: Ctx, traceId: string): Promise<{ spans: Span[]; failed: string[] }> {
  const p = await ctx.platform();
  const names = [...new Set((await p.registry.listServices()).map((r) => r.name))];
  const nodes = (
    await Promise.all(
      names.map(async (name) => {
        try {
          return (await p.registry.getService(name)).flatMap((r) => r.nodes.map((n) => ({ name, address: n.address })));
        } catch {
          return []; // gone between list and get
        }
      }),
    )
  ).flat();
  const failed: string[] = [];
  const answers = await Promise.all(
    nodes.map(async (n) => {
      try {
        return (await p.core.call<TraceResponse>(n.name, "Debug.Trace", { traceId }, { address: n.address, timeout: ctx.timeout })).spans;
      } catch (err) {
        // Core services and older frameworks have no Debug handler: nothing to collect there.
        if (!(err instanceof MicroError && err.code === 404)) failed.push(`${n.name} (${n.address}): ${(err as Error).message}`);
        return [];
      }
    }),
  );
  const byId = new Map<string, Span>();
  for (const s of answers.flat()) if (s.traceId === traceId) byId.set(`${s.spanId}/${s.kind}`, s);
  return { spans: [...byId.values()].sort((a, b) => a.start - b.start), failed };
}

/** The spans as an indented tree; a span whose parent was not collected is a root. */
export function traceTree(spans: Span[]): string {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, Span[]>();
  const roots: Span[] = [];
  for (const s of spans) {
    if (s.parentId && ids.has(s.parentId) && s.parentId !== s.spanId) children.set(s.parentId, [...(children.get(s.parentId) ?? []), s]);
    else roots.push(s);
  }
  const lines: string[] = [];
  const label = (s: Span) => {
    const err = s.status === "error" ? `  ERROR ${s.attributes["error.code"] ?? ""} ${s.attributes["error.message"] ?? ""}`.trimEnd() : "";
    return `${s.name}  ${s.kind}@${s.service}  ${ms(s.duration)}${err}`;
  };
  const walk = (s: Span, prefix: string, last: boolean, root: boolean, seen: Set<string>) => {
    lines.push(root ? label(s) : `${prefix}${last ? "└─ " : "├─ "}${label(s)}`);
    if (seen.has(s.spanId)) return; // a malformed cycle never loops
    seen.add(s.spanId);
    const kids = children.get(s.spanId) ?? [];
    const next = root ? "" : `${prefix}${last ? "   " : "│  "}`;
    kids.forEach((k, i) => walk(k, next, i === kids.length - 1, false, seen));
  };
  for (const r of roots) walk(r, "", true, true, new Set());
  return lines.join("\n");
}

export function debugCommands(program: Command, wrap: Wrap): void {
  program
    .command("stats")
    .description("a service's requests, errors, latency and memory (Debug.Stats of every node)")
    .argument("<name>", "the service")
    .action(
      wrap(async (ctx, name: string) => {
        const nodes = await nodesOf(ctx, name);
        const stats = await Promise.all(nodes.map((n) => onNode<StatsSnapshot>(ctx, name, n, "Debug.Stats", {})));
        ctx.out.print(stats, () => stats.map((s, i) => statsText(s, nodes[i]!.address)).join("\n\n"));
      }),
    );

  program
    .command("trace")
    .description("the spans of one request across every service, as a tree (Debug.Trace)")
    .argument("<id>", "the trace id: 32 hex digits (from a traceparent header)")
    .action(
      wrap(async (ctx, id: string) => {
        const traceId = id.toLowerCase();
        if (!/^[0-9a-f]{32}$/.test(traceId) || /^0+$/.test(traceId)) throw new UsageError(`a trace id is 32 hex digits, got ${JSON.stringify(id)}`);
        const { spans, failed } = await collectTrace(ctx, traceId);
        for (const f of failed) ctx.out.err(`micro: could not ask ${f}`);
        if (spans.length === 0) throw new MicroError("micro.cli", `no spans of trace ${traceId} in any service's buffer (spans are kept in memory, the most recent per service)`, 404);
        const services = [...new Set(spans.map((s) => s.service))].sort();
        const total = Math.max(...spans.map((s) => s.start + s.duration)) - Math.min(...spans.map((s) => s.start));
        ctx.out.print({ traceId, spans }, () => `trace ${traceId}: ${spans.length} spans across ${services.join(", ")}, ${ms(total)}\n${traceTree(spans)}`);
      }),
    );
}
