/**
 * MCP over Streamable HTTP (the gateway's `/mcp`): a node:http request handler. Sessions are
 * stateful (`Mcp-Session-Id`), so a session's GET stream receives `tools/list_changed`; each
 * session has its own server from the factory. The bearer token is read on every request.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { ErrorCode, isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "@micro-ts/micro";

export interface McpHttpOptions {
  /** Sessions kept at once; past it the least recently used one is closed. @default 100 */
  maxSessions?: number;
  /** A session unused this long is closed, in ms. @default 1800000 (30 min) */
  idleTimeout?: number;
  /** Largest request body, in bytes. @default 4194304 (4 MiB) */
  maxBodyBytes?: number;
  /**
   * Browser origins allowed to call (requests with an `Origin` header); others get 403, which
   * keeps web pages from driving a local server (DNS rebinding). @default none
   */
  allowedOrigins?: string[];
  logger?: Logger;
}

export interface McpHttpHandler {
  /** The node:http request listener: mount it at `/mcp` (it answers whatever path it is given). */
  (req: IncomingMessage, res: ServerResponse): void;
  /** Closes every session and its server. Idempotent. */
  close(): Promise<void>;
  /** Sessions open now. */
  readonly sessions: number;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: Server;
  used: number;
}

const MCP_DEFAULTS = { maxSessions: 100, idleTimeout: 30 * 60_000, maxBodyBytes: 4 << 20 } as const;

/** A request handler for Streamable HTTP; `factory` makes the server of each new session. */
export function mcpHttpHandler(factory: () => Server | Promise<Server>, opts: McpHttpOptions = {}): McpHttpHandler {
  const o = { ...MCP_DEFAULTS, ...opts };
  for (const k of ["maxSessions", "idleTimeout", "maxBodyBytes"] as const) {
    if (!Number.isFinite(o[k]) || o[k] <= 0) throw new TypeError(`mcpHttpHandler: \`${k}\` must be a positive number`);
  }
  const sessions = new Map<string, Session>();
  let sweeper: NodeJS.Timeout | undefined;
  let closed = false;

  const drop = (id: string) => {
    const s = sessions.get(id);
    if (!s) return;
    sessions.delete(id);
    s.server.close().catch(() => {});
  };
  const sweep = () => {
    const old = Date.now() - o.idleTimeout;
    for (const [id, s] of sessions) if (s.used < old) drop(id);
    if (sessions.size === 0 && sweeper) {
      clearInterval(sweeper);
      sweeper = undefined;
    }
  };

  const open = async (): Promise<Session> => {
    if (sessions.size >= o.maxSessions) {
      const lru = [...sessions].sort((a, b) => a[1].used - b[1].used)[0];
      if (lru) drop(lru[0]);
    }
    const server = await factory();
    const s: Session = { server, used: Date.now() } as Session;
    s.transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      maxRequestBodySize: o.maxBodyBytes,
      onsessioninitialized: (id) => {
        sessions.set(id, s);
        sweeper ??= setInterval(sweep, Math.min(o.idleTimeout, 60_000)).unref();
      },
      onsessionclosed: (id) => drop(id),
    });
    s.transport.onclose = () => {
      if (s.transport.sessionId !== undefined) sessions.delete(s.transport.sessionId);
    };
    await server.connect(s.transport);
    return s;
  };

  const handle = async (req: IncomingMessage & { auth?: { token: string; clientId: string; scopes: string[] } }, res: ServerResponse) => {
    const origin = req.headers.origin;
    if (origin !== undefined && !(o.allowedOrigins ?? []).includes(origin)) {
      return rpcError(res, 403, ErrorCode.InvalidRequest, `origin ${origin} is not allowed`);
    }
    const auth = String(req.headers.authorization ?? "");
    if (auth !== "") {
      const m = /^Bearer ([^\s]+)$/i.exec(auth);
      if (!m) return rpcError(res, 401, ErrorCode.InvalidRequest, "expected Authorization: Bearer <token>");
      req.auth = { token: m[1]!, clientId: "", scopes: [] };
    }
    let body: unknown;
    if (req.method === "POST") {
      let text: string;
      try {
        text = await readBody(req, o.maxBodyBytes);
      } catch {
        return rpcError(res, 413, ErrorCode.InvalidRequest, `request body over ${o.maxBodyBytes} bytes`);
      }
      try {
        body = JSON.parse(text);
      } catch {
        return rpcError(res, 400, ErrorCode.ParseError, "Parse error: the body is not JSON");
      }
    }
    const id = req.headers["mcp-session-id"];
    if (typeof id === "string" && id !== "") {
      const s = sessions.get(id);
      if (!s) return rpcError(res, 404, ErrorCode.InvalidRequest, "Session not found: initialize a new one");
      s.used = Date.now();
      return s.transport.handleRequest(req, res, body);
    }
    const initialize = req.method === "POST" && (Array.isArray(body) ? body.some((m) => isInitializeRequest(m)) : isInitializeRequest(body));
    if (!initialize) return rpcError(res, 400, ErrorCode.InvalidRequest, "Bad Request: no Mcp-Session-Id (send initialize first)");
    if (closed) return rpcError(res, 503, ErrorCode.InternalError, "shutting down");
    const s = await open();
    await s.transport.handleRequest(req, res, body);
    // An initialize the transport refused leaves no session behind.
    if (s.transport.sessionId === undefined || !sessions.has(s.transport.sessionId)) await s.server.close().catch(() => {});
  };

  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((e: unknown) => {
      o.logger?.warn("mcp: request failed", { error: String(e) });
      if (!res.headersSent) rpcError(res, 500, ErrorCode.InternalError, "internal error");
      else res.end();
    });
  }) as McpHttpHandler;
  Object.defineProperty(handler, "sessions", { get: () => sessions.size });
  handler.close = async () => {
    closed = true;
    if (sweeper) clearInterval(sweeper);
    sweeper = undefined;
    const all = [...sessions.values()];
    sessions.clear();
    await Promise.allSettled(all.map((s) => s.server.close()));
  };
  return handler;
}

function rpcError(res: ServerResponse, status: number, code: number, message: string): void {
  if (res.headersSent) return void res.end();
  const body = JSON.stringify({ jsonrpc: "2.0", error: { code, message }, id: null });
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > max) {
        req.removeAllListeners("data");
        req.resume();
        reject(new Error("too large"));
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}
