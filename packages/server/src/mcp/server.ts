/**
 * The MCP server over the registry: `tools/list` is every endpoint of every registered service
 * (live: `notifications/tools/list_changed` when services come or go), `tools/call` calls the
 * endpoint through the normal client. A service's error is a tool result (`isError`), never a
 * protocol error; protocol errors are for unknown tools and malformed requests.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { MicroError, type Client, type Logger, type Registry, type ServiceRecord } from "@micro-ts/micro";
import { ToolCatalog } from "./catalog.js";
import type { McpTool, ToolEntry } from "./tools.js";

/**
 * Refuses a call: reject with a MicroError (401/403) to refuse, its detail reaches the agent.
 * `token` is the session's bearer token (undefined: anonymous).
 */
export type McpAuthorize = (token: string | undefined, service: string, endpoint: string) => Promise<void>;
/** Keeps the tools the token's account may call. */
export type McpListAllowed = (token: string | undefined, tools: McpTool[]) => Promise<McpTool[]>;

export interface McpServerOptions {
  /** Where the tools come from. */
  registry: Registry;
  /** What calls them: the normal client (its timeouts, retries, middleware apply). */
  client: Client;
  /** Checks every call. @default allow all */
  authorize?: McpAuthorize;
  /** Filters `tools/list`. @default show all */
  listAllowed?: McpListAllowed;
  /** The token of a session whose transport carries none (stdio: `micro login` or MICRO_TOKEN). */
  token?: string;
  /** Per-call timeout, in ms (a streaming endpoint's whole collection). @default 10000 */
  timeout?: number;
  /** Messages a streaming endpoint's call collects; 0 leaves streaming endpoints out. @default 100 */
  maxStreamItems?: number;
  /** Which records become tools. @default every record but micro server's core services */
  include?: (r: ServiceRecord) => boolean;
  /** The name the server gives in `initialize`. @default "micro" */
  name?: string;
  /** @default "0.1.0" */
  version?: string;
  logger?: Logger;
}

export const MCP_DEFAULTS = { timeout: 10_000, maxStreamItems: 100, name: "micro", version: "0.1.0" } as const;

/** What `tools/call` does, without a protocol around it (`micro mcp call`). */
export interface McpTools {
  /** The tools the token may see, sorted by name. */
  list(token?: string): Promise<McpTool[]>;
  /**
   * Calls a tool. Rejects with an McpError for an unknown tool or arguments that are not an
   * object; every failure of the call itself is a result with `isError: true`.
   */
  call(name: string, args: unknown, token?: string, signal?: AbortSignal): Promise<CallToolResult>;
  /** Calls `fn` when the tools change (starts watching the registry). Returns the unsubscribe. */
  onChange(fn: () => void): () => void;
  /** Stops watching the registry. Idempotent. */
  close(): void;
}

/** The tools of a registry, callable through a client: what the MCP server serves. */
export function mcpTools(opts: McpServerOptions): McpTools {
  const o = resolve(opts);
  const catalog = new ToolCatalog({
    registry: o.registry,
    maxStreamItems: o.maxStreamItems,
    ...(o.include ? { include: o.include } : {}),
    ...(o.logger ? { logger: o.logger } : {}),
  });
  const list = async (token: string | undefined): Promise<ToolEntry[]> => {
    const all = await catalog.list();
    if (!o.listAllowed) return all;
    const allowed = new Set((await o.listAllowed(token, all.map((t) => t.tool))).map((t) => t.name));
    return all.filter((t) => allowed.has(t.tool.name));
  };
  return {
    list: async (token = o.token) => (await list(token)).map((t) => t.tool),
    async call(name, args, token = o.token, signal) {
      const entry = await catalog.find(name);
      if (!entry) throw new McpError(ErrorCode.InvalidParams, `unknown tool: ${name}`);
      const request = args ?? {};
      if (typeof request !== "object" || Array.isArray(request)) {
        throw new McpError(ErrorCode.InvalidParams, `${name}: arguments must be a JSON object`);
      }
      try {
        if (o.authorize) await o.authorize(token, entry.service, entry.endpoint);
        const metadata = token ? { authorization: `Bearer ${token}` } : undefined;
        const co = { timeout: o.timeout, ...(metadata ? { metadata } : {}), ...(signal ? { signal } : {}) };
        if (!entry.stream) return success(await o.client.call(entry.service, entry.endpoint, request, co));
        const items: unknown[] = [];
        let truncated = false;
        const s = o.client.stream(entry.service, entry.endpoint, request, co);
        for await (const item of s) {
          if (items.length === o.maxStreamItems) {
            truncated = true;
            break;
          }
          items.push(item);
        }
        return success({ items, truncated });
      } catch (e) {
        return failure(MicroError.from(e, "micro.mcp"));
      }
    },
    onChange: (fn) => catalog.onChange(fn),
    close: () => catalog.close(),
  };
}

/**
 * An MCP server (the SDK's `Server`) for one connection: connect it to a transport. Closing it
 * (or its transport) stops its registry watch.
 */
export function createMcpServer(opts: McpServerOptions): Server {
  const o = resolve(opts);
  const tools = mcpTools(o);
  const server = new Server(
    { name: o.name, version: o.version },
    {
      capabilities: { tools: { listChanged: true } },
      instructions:
        "Each tool calls one endpoint of a service registered with Micro. Tool results are the endpoint's JSON response; " +
        "a failed call is a tool error whose text is the service's error ({id, code, detail, status}).",
    },
  );
  // The session's token: the HTTP transport carries one per request, stdio none (then o.token).
  const tokenOf = (extra: { authInfo?: { token?: string } }) => extra.authInfo?.token || o.token;
  server.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => ({ tools: await tools.list(tokenOf(extra)) }));
  // Registered with a schema of the method alone: with the full one, the SDK turns wrong
  // arguments into an internal error (-32603) before its own tools/call check answers -32602.
  server.setRequestHandler(CALL_METHOD_ONLY, (raw, extra) => {
    const req = CallToolRequestSchema.parse(raw);
    return tools.call(req.params.name, req.params.arguments, tokenOf(extra), extra.signal);
  });
  let unsubscribe: (() => void) | undefined;
  server.oninitialized = () => {
    unsubscribe ??= tools.onChange(() => {
      server.sendToolListChanged().catch((e: unknown) => o.logger?.debug("mcp: cannot notify", { error: String(e) }));
    });
  };
  server.onclose = () => {
    unsubscribe?.();
    tools.close();
  };
  return server;
}

const CALL_METHOD_ONLY = CallToolRequestSchema.pick({ method: true }).passthrough();

type Resolved = McpServerOptions & { timeout: number; maxStreamItems: number; name: string; version: string };

function resolve(opts: McpServerOptions): Resolved {
  if (!opts || typeof opts.client?.call !== "function") throw new TypeError("mcp: `client` is required");
  if (!opts.registry || typeof opts.registry.listServices !== "function") throw new TypeError("mcp: `registry` is required");
  const o = { ...MCP_DEFAULTS, ...stripUndefined(opts) } as Resolved;
  if (!Number.isFinite(o.timeout) || o.timeout <= 0) throw new TypeError("mcp: `timeout` must be a positive number");
  if (!Number.isInteger(o.maxStreamItems) || o.maxStreamItems < 0) throw new TypeError("mcp: `maxStreamItems` must be a whole number");
  return o;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function success(value: unknown): CallToolResult {
  // structuredContent must be an object: other JSON values are wrapped as { result }.
  const structured = typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : { result: value ?? null };
  return { content: [{ type: "text", text: JSON.stringify(value ?? null) }], structuredContent: structured };
}

function failure(err: MicroError): CallToolResult {
  const json = err.toJSON();
  return { isError: true, content: [{ type: "text", text: JSON.stringify(json) }], structuredContent: { error: json } };
}
