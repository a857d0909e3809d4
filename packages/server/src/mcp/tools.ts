/**
 * Registry records → MCP tools: one tool per endpoint of every service, pure and deterministic
 * (the same records always give the same tools, whatever order the registry lists them in).
 */
import { createHash } from "node:crypto";
import type { Endpoint, ServiceRecord } from "@micro-ts/micro";

/** An MCP tool as `tools/list` returns it. */
export interface McpTool {
  /** `greeter_Greeter_Hello`: `[A-Za-z0-9_-]`, at most 64 characters. */
  name: string;
  title?: string;
  description: string;
  inputSchema: { type: "object"; [k: string]: unknown };
  annotations?: { title?: string; readOnlyHint?: boolean; openWorldHint?: boolean };
  /** Where the tool comes from: `{ "micro/service": "greeter", "micro/endpoint": "Greeter.Hello", ... }`. */
  _meta: Record<string, unknown>;
}

/** A tool and the endpoint it calls. */
export interface ToolEntry {
  tool: McpTool;
  service: string;
  /** `Handler.Method`. */
  endpoint: string;
  /** A server-streaming endpoint: its first `maxStreamItems` messages are collected. */
  stream: boolean;
}

/** The longest tool name: the strictest limit among MCP clients (Claude's tool names). */
export const MAX_TOOL_NAME = 64;

/** The endpoint metadata the tools are built from. */
export const MCP_METADATA = {
  /** `"false"` keeps the endpoint out of the tools. */
  opt: "mcp",
  description: "description",
  /** JSON Schema (as JSON text) of the request: the tool's `inputSchema`. */
  requestSchema: "request_schema",
  /** JSON array (or one JSON value) of example requests, shown in the description. */
  examples: "examples",
  stream: "stream",
} as const;

/** Which records become tools: the core services of `micro server` do not. */
export function defaultInclude(r: ServiceRecord): boolean {
  return r.metadata?.["server"] !== "micro-ts";
}

const UNSAFE = /[^A-Za-z0-9_-]+/g;

/** The readable name: `greeter` + `Greeter.Hello` → `greeter_Greeter_Hello`; `v1.greeter` → `v1_greeter_…`. */
function baseName(service: string, endpoint: string): string {
  return `${service}_${endpoint}`.replace(UNSAFE, "_");
}

function hash(service: string, endpoint: string): string {
  return createHash("sha256").update(`${service}\n${endpoint}`).digest("hex").slice(0, 8);
}

function withHash(base: string, service: string, endpoint: string): string {
  const h = `_${hash(service, endpoint)}`;
  return base.slice(0, MAX_TOOL_NAME - h.length) + h;
}

/**
 * The tool name of an endpoint, on its own. Names over 64 characters are cut and get a hash of
 * the full service and endpoint; `toolEntries` also hashes names that two endpoints share.
 */
export function toolName(service: string, endpoint: string): string {
  const base = baseName(service, endpoint);
  return base.length <= MAX_TOOL_NAME ? base : withHash(base, service, endpoint);
}

export interface ToolEntriesOptions {
  /** Which records become tools. @default every record but micro server's core services */
  include?: (r: ServiceRecord) => boolean;
  /** How many messages a streaming endpoint's call collects; 0 leaves streaming endpoints out. @default 100 */
  maxStreamItems?: number;
}

/**
 * One tool per (service, endpoint) across the records, sorted by name. Versions of a service
 * share tools (a call goes to any version); the first version by name that describes an
 * endpoint gives its description and schema.
 */
export function toolEntries(records: readonly ServiceRecord[], o: ToolEntriesOptions = {}): ToolEntry[] {
  const include = o.include ?? defaultInclude;
  const maxStream = o.maxStreamItems ?? 100;
  const found = new Map<string, { service: string; endpoint: Endpoint; version: string }>();
  const sorted = [...records].sort((a, b) => cmp(a.name, b.name) || cmp(a.version, b.version));
  for (const r of sorted) {
    if (!include(r)) continue;
    for (const e of r.endpoints ?? []) {
      if (!e?.name || e.metadata?.[MCP_METADATA.opt] === "false") continue;
      if (e.metadata?.[MCP_METADATA.stream] === "true" && maxStream <= 0) continue;
      const key = `${r.name}\n${e.name}`;
      const seen = found.get(key);
      if (!seen || (!seen.endpoint.metadata?.["description"] && e.metadata?.["description"])) {
        found.set(key, { service: r.name, endpoint: e, version: r.version });
      }
    }
  }
  // Names two endpoints would share (`v1.greeter` and `v1_greeter`) both get a hash suffix.
  const byName = new Map<string, number>();
  for (const { service, endpoint } of found.values()) {
    const n = toolName(service, endpoint.name);
    byName.set(n, (byName.get(n) ?? 0) + 1);
  }
  const out: ToolEntry[] = [];
  for (const { service, endpoint, version } of found.values()) {
    let name = toolName(service, endpoint.name);
    if ((byName.get(name) ?? 0) > 1) name = withHash(baseName(service, endpoint.name), service, endpoint.name);
    const stream = endpoint.metadata?.[MCP_METADATA.stream] === "true";
    out.push({ tool: toTool(name, service, endpoint, version, stream, maxStream), service, endpoint: endpoint.name, stream });
  }
  return out.sort((a, b) => cmp(a.tool.name, b.tool.name));
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function toTool(name: string, service: string, e: Endpoint, version: string, stream: boolean, maxStream: number): McpTool {
  const md = e.metadata ?? {};
  const { schema, note } = inputSchema(md[MCP_METADATA.requestSchema]);
  const parts = [md[MCP_METADATA.description]?.trim() || `Calls ${e.name} of the ${service} service.`];
  if (note) parts.push(note);
  if (stream) parts.push(`Streaming endpoint: the result is { items, truncated } with its first ${maxStream} messages.`);
  const examples = examplesOf(md[MCP_METADATA.examples]);
  if (examples.length > 0) parts.push(`Examples:\n${examples.map((x) => `- ${JSON.stringify(x)}`).join("\n")}`);
  return {
    name,
    title: `${service} ${e.name}`,
    description: parts.join("\n\n"),
    inputSchema: schema,
    annotations: { title: `${service} ${e.name}`, openWorldHint: true },
    _meta: { "micro/service": service, "micro/endpoint": e.name, "micro/version": version, "micro/stream": stream },
  };
}

const PERMISSIVE = { type: "object", additionalProperties: true } as const;

/** The declared request schema when it describes an object; else a permissive one, and why. */
function inputSchema(text: string | undefined): { schema: McpTool["inputSchema"]; note?: string } {
  if (!text) return { schema: { ...PERMISSIVE }, note: "No request schema was declared: pass the request as a JSON object." };
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { schema: { ...PERMISSIVE }, note: "The declared request schema is not valid JSON: pass the request as a JSON object." };
  }
  if (!isObject(v)) {
    return { schema: { ...PERMISSIVE }, note: "The declared request schema is not a JSON Schema object: pass the request as a JSON object." };
  }
  const s = v as Record<string, unknown>;
  const props = s["properties"];
  const propsOk = props === undefined || (isObject(props) && Object.values(props).every(isObject));
  const reqOk = s["required"] === undefined || (Array.isArray(s["required"]) && s["required"].every((r) => typeof r === "string"));
  // MCP clients validate these two fields strictly: a boolean sub-schema would break the whole list.
  if (!propsOk || !reqOk) {
    return { schema: { ...PERMISSIVE }, note: "The declared request schema could not be passed on: pass the request as a JSON object." };
  }
  if (s["type"] === "object") return { schema: s as McpTool["inputSchema"] };
  // Schemas that describe an object without saying so (only `properties`) are still objects.
  if (s["type"] === undefined && typeof s["properties"] === "object") return { schema: { ...s, type: "object" } };
  return { schema: { ...PERMISSIVE }, note: "The declared request schema does not describe a JSON object: pass the request as a JSON object." };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function examplesOf(text: string | undefined): unknown[] {
  if (!text) return [];
  try {
    const v: unknown = JSON.parse(text);
    return (Array.isArray(v) ? v : [v]).slice(0, 5);
  } catch {
    return [text];
  }
}
