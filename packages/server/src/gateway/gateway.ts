/**
 * The API gateway: HTTP/JSON and WebSocket in front of every registered service.
 * Requests go through one fixed sequence: parse the path → (CORS preflight) → route (cached)
 * → authorize → decode the body → call → reply. Every failure is a MicroError reply.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { CacheRegistry, errors, MicroError, type Metadata } from "@micro-ts/micro";
import { BodyReads, decode, parseQuery, readBody } from "./body.js";
import { Cors } from "./cors.js";
import { openapi } from "./openapi.js";
import { resolveOptions, type Gateway, type GatewayAccount, type GatewayOptions, type GatewayTarget, type ResolvedOptions } from "./options.js";
import { Router, segments, type Target } from "./route.js";
import { rawReply } from "./reply.js";
import { WsGateway } from "./ws.js";

const JSON_TYPE = "application/json";
/** Headers never forwarded as metadata with `metadata: "*"`. */
const HOP = new Set(["host", "connection", "keep-alive", "upgrade", "te", "trailer", "transfer-encoding", "proxy-authorization", "expect", "cookie"]);
const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const MAX_RPC_TIMEOUT = 300_000;

/** What the HTTP and WebSocket sides share. */
export interface Shared {
  readonly o: Readonly<ResolvedOptions>;
  readonly router: Router;
  readonly cors: Cors | undefined;
  readonly reads: BodyReads;
  /** The routable segments of a path (namespace stripped), or throws a 400. */
  parts(pathname: string): string[];
  metadata(req: IncomingMessage, account: GatewayAccount | undefined): Metadata | undefined;
  authorize(req: IncomingMessage, t: GatewayTarget): Promise<GatewayAccount | undefined> | undefined;
  /** Maps a failed call to the gateway's reply (504 past the deadline). */
  callError(e: unknown, t: Target, started: number, timeout: number): MicroError;
}

/** Creates a gateway; it does nothing until `listen()` (or until its `handler` is mounted). */
export function createGateway(opts: GatewayOptions): Gateway {
  const o = resolveOptions(opts);
  const owned = o.registry instanceof CacheRegistry ? undefined : new CacheRegistry(o.registry);
  const router = new Router({ registry: owned ?? (o.registry as CacheRegistry) });
  const forward = o.metadata;
  const shared: Shared = {
    o,
    router,
    cors: o.cors ? new Cors(o.cors) : undefined,
    reads: new BodyReads(o.bodyTimeout),
    parts(pathname) {
      const p = segments(pathname);
      return o.namespace && p.length > 1 && p[0] === o.namespace ? p.slice(1) : p;
    },
    metadata(req, account) {
      let md: Metadata | undefined;
      if (forward === "*") {
        for (const k in req.headers) {
          const v = req.headers[k];
          if (v === undefined || HOP.has(k) || k.startsWith("micro-") || k.startsWith("content-")) continue;
          (md ??= {})[k] = Array.isArray(v) ? v.join(", ") : v;
        }
      } else {
        for (const k of forward) {
          const v = req.headers[k];
          if (v !== undefined) (md ??= {})[k] = Array.isArray(v) ? v.join(", ") : v;
        }
      }
      if (account) (md ??= {})["micro-account-id"] = account.id;
      return md;
    },
    authorize(req, t) {
      return o.authorize ? o.authorize(req, t) : undefined;
    },
    callError(e, t, started, timeout) {
      const err = MicroError.from(e, "gateway");
      if (err.code === 408 && (err.id === "go.micro.client" || err.id === "transport" || Date.now() - started >= timeout - 5)) {
        return errors.gatewayTimeout("gateway", `${t.service} ${t.endpoint} did not answer within ${timeout} ms`);
      }
      return err;
    },
  };
  const ws = new WsGateway(shared);
  // The hot path skips the general routing for a cached route; CORS needs the full path.
  const fast = !shared.cors;
  let server: Server | undefined;
  let closed = false;

  const fail = (req: IncomingMessage, res: ServerResponse, e: unknown) => {
    const err = MicroError.from(e, "gateway");
    const code = err.code >= 400 && err.code <= 599 ? err.code : 500;
    if (code >= 500) o.logger?.warn("gateway: request failed", { method: req.method, url: req.url?.slice(0, 200), code, error: err.detail, cause: String(err.cause ?? "") });
    if (res.headersSent || res.destroyed) return;
    const h: OutgoingHttpHeaders = {};
    // an unread body (413, 408) is never read: close the connection after the reply
    if (!req.complete) h["connection"] = "close";
    const body = JSON.stringify(code === err.code ? err.toJSON() : { ...err.toJSON(), code, status: "Internal Server Error" });
    send(req, res, code, body, h);
  };

  const send = (req: IncomingMessage, res: ServerResponse, code: number, body: string, h: OutgoingHttpHeaders = {}) => {
    h["content-type"] = JSON_TYPE;
    h["content-length"] = Buffer.byteLength(body);
    if (shared.cors && req.headers.origin !== undefined) shared.cors.apply(req, h);
    res.writeHead(code, h);
    res.end(body);
    if (h["connection"] === "close") res.once("finish", () => req.socket.destroySoon());
  };

  const call = async (req: IncomingMessage, res: ServerResponse, t: Target, query: string, account: GatewayAccount | undefined) => {
    const method = req.method!;
    let request: Record<string, unknown>;
    if (method === "GET") request = parseQuery(query);
    else {
      const body = await readBody(req, o.maxBodyBytes, shared.reads);
      const decoded = decode(body, req.headers["content-type"], o.maxBodyBytes);
      request = decoded instanceof Promise ? await decoded : decoded;
      if (body.length === 0 && query !== "") request = parseQuery(query);
    }
    if (t.stream) throw errors.badRequest("gateway", `${t.service} ${t.endpoint} is a streaming endpoint: open a WebSocket on this path`);
    await unary(req, res, t, request, o.timeout, account);
  };

  const unary = async (req: IncomingMessage, res: ServerResponse, t: Target, request: unknown, timeout: number, account: GatewayAccount | undefined) => {
    // No per-request AbortController on this hot path: a unary call whose HTTP client went
    // away is bounded by its deadline (streams, over WebSocket, are cancelled on close).
    const started = Date.now();
    const md = shared.metadata(req, account);
    let rsp: unknown;
    try {
      rsp = await o.client.call(t.service, t.endpoint, request, md ? { timeout, metadata: md } : { timeout });
    } catch (e) {
      throw shared.callError(e, t, started, timeout);
    }
    send(req, res, 200, rsp === undefined ? "{}" : JSON.stringify(rsp));
  };

  const rpc = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST") throw errors.methodNotAllowed("gateway", "use POST /rpc with {service, endpoint, request}");
    const body = await readBody(req, o.maxBodyBytes, shared.reads);
    const v = decode(body, req.headers["content-type"], o.maxBodyBytes);
    const b = v instanceof Promise ? await v : v;
    if (typeof b["service"] !== "string" || typeof b["endpoint"] !== "string" || !b["service"] || !b["endpoint"]) {
      throw errors.badRequest("gateway", "/rpc needs {service, endpoint, request?, timeout?}");
    }
    const r = b["request"] ?? {};
    if (typeof r !== "object" || r === null || Array.isArray(r)) throw errors.badRequest("gateway", "/rpc: request must be a JSON object");
    let timeout = o.timeout;
    if (b["timeout"] !== undefined) {
      const n = Number(b["timeout"]);
      if (!Number.isFinite(n) || n <= 0) throw errors.badRequest("gateway", "/rpc: timeout must be a positive number of ms");
      timeout = Math.min(n, MAX_RPC_TIMEOUT);
    }
    const t = await router.explicit(b["service"], b["endpoint"]);
    const account = await shared.authorize(req, { kind: "call", service: t.service, endpoint: t.endpoint, stream: t.stream });
    if (t.stream) throw errors.badRequest("gateway", `${t.service} ${t.endpoint} is a streaming endpoint: open a WebSocket on its path`);
    await unary(req, res, t, r, timeout, account);
  };

  const publish = async (req: IncomingMessage, res: ServerResponse, topic: string) => {
    if (req.method !== "POST") throw errors.methodNotAllowed("gateway", `POST /events/${topic} publishes; a WebSocket on it consumes`);
    if (!o.events) throw errors.notImplemented("gateway", "events are not enabled on this gateway");
    const account = await shared.authorize(req, { kind: "publish", topic });
    const body = await readBody(req, o.maxBodyBytes, shared.reads);
    if (body.length === 0) throw errors.badRequest("gateway", "empty event: send a JSON payload");
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString("utf8"));
    } catch {
      throw errors.badRequest("gateway", "malformed JSON in event payload");
    }
    const md = shared.metadata(req, account);
    const id = await o.events.publish(topic, payload, md ? { metadata: md } : {});
    send(req, res, 202, JSON.stringify({ id, topic }));
  };

  const special = async (req: IncomingMessage, res: ServerResponse, parts: string[]): Promise<boolean> => {
    const head = parts[0];
    if (parts.length === 1 && head === "health") {
      if (req.method !== "GET") throw errors.methodNotAllowed("gateway", "GET /health");
      send(req, res, 200, '{"status":"ok"}');
      return true;
    }
    if (parts.length === 1 && head === "ready") {
      // readiness: the registry answers (services can be found)
      if (req.method !== "GET") throw errors.methodNotAllowed("gateway", "GET /ready");
      try {
        await o.registry.listServices();
      } catch (e) {
        throw errors.serviceUnavailable("gateway", `registry unreachable: ${e instanceof Error ? e.message : String(e)}`);
      }
      send(req, res, 200, '{"status":"ready"}');
      return true;
    }
    if (parts.length === 1 && head === "openapi.json") {
      if (req.method !== "GET") throw errors.methodNotAllowed("gateway", "GET /openapi.json");
      await shared.authorize(req, { kind: "openapi" });
      send(req, res, 200, JSON.stringify(await openapi(o.registry, router)));
      return true;
    }
    if (parts.length === 1 && head === "rpc") {
      await rpc(req, res);
      return true;
    }
    if (parts.length === 2 && head === "events") {
      await publish(req, res, parts[1]!);
      return true;
    }
    return false;
  };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const pathname = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? "" : url.slice(q + 1);
    const method = req.method;
    // hot path: a cached route, no authorize hook, no CORS
    if (fast && (method === "POST" || method === "GET")) {
      const t = router.cached(pathname);
      if (t) {
        const account = o.authorize ? await shared.authorize(req, { kind: "call", service: t.service, endpoint: t.endpoint, stream: t.stream }) : undefined;
        return call(req, res, t, query, account);
      }
    }
    if (!pathname.startsWith("/")) throw errors.badRequest("gateway", "invalid request target");
    if (method === "OPTIONS") return preflight(req, res);
    if (method !== "GET" && !BODY_METHODS.has(method ?? "")) {
      throw errors.methodNotAllowed("gateway", `method ${String(method).slice(0, 16)} not allowed`);
    }
    if (shared.cors && !shared.cors.allows(req.headers.origin)) throw errors.forbidden("gateway", "origin not allowed");
    const parts = shared.parts(pathname);
    const route = parts.length > 0 ? o.routes?.[parts[0]!] : undefined;
    if (route) return route(req, res);
    if (await special(req, res, parts)) return;
    const t = router.cached(pathname) ?? (await router.resolve(pathname, parts));
    const account = await shared.authorize(req, { kind: "call", service: t.service, endpoint: t.endpoint, stream: t.stream });
    return call(req, res, t, query, account);
  };

  const preflight = (req: IncomingMessage, res: ServerResponse) => {
    const h = shared.cors?.preflight(req);
    if (!h) throw errors.methodNotAllowed("gateway", shared.cors ? "origin not allowed" : "CORS is not enabled on this gateway");
    res.writeHead(204, h);
    res.end();
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      serve(req, res).catch((e: unknown) => fail(req, res, e));
    } catch (e) {
      fail(req, res, e);
    }
  };

  return {
    handler,
    upgrade: (req, socket, head) => ws.upgrade(req, socket, head),
    async listen(address = "127.0.0.1:8080") {
      if (closed) throw errors.serviceUnavailable("gateway", "gateway is closed");
      if (server) throw new Error("gateway: already listening");
      const { host, port } = splitAddress(address);
      const s = createServer(
        {
          headersTimeout: o.headersTimeout,
          requestTimeout: o.requestTimeout,
          // how often node enforces those two (its default, 30 s, would let slow clients linger)
          connectionsCheckingInterval: Math.max(100, Math.min(1000, o.headersTimeout / 2)),
        },
        handler,
      );
      s.keepAliveTimeout = o.keepAliveTimeout;
      s.on("upgrade", ws.upgrade.bind(ws));
      s.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => clientError(err, socket));
      s.on("connect", (_req: IncomingMessage, socket: Duplex) => {
        socket.on("error", () => socket.destroy());
        rawReply(socket, errors.methodNotAllowed("gateway", "CONNECT is not supported"));
      });
      server = s;
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, host, () => {
          s.off("error", reject);
          resolve();
        });
      });
      const a = s.address();
      if (!a || typeof a === "string") return String(a);
      return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      shared.reads.close();
      await ws.close();
      const s = server;
      if (s) {
        const done = new Promise<void>((resolve) => s.close(() => resolve()));
        s.closeIdleConnections();
        const t = setTimeout(() => s.closeAllConnections(), 1000);
        await done;
        clearTimeout(t);
      }
      await owned?.close();
    },
  };
}

/** node:http's default answers, with a JSON body, and never a crash on a broken socket. */
function clientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || err.code === "ECONNRESET") return void socket.destroy();
  const code = err.code === "HPE_HEADER_OVERFLOW" ? 431 : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? 408 : 400;
  rawReply(socket, new MicroError("gateway", code === 431 ? "request headers too large" : code === 408 ? "request timed out" : "malformed HTTP request", code));
}

/** `host:port`, `[v6]:port` or `:port`. */
export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  if (i === -1) throw new TypeError(`gateway: address ${address} is not host:port`);
  let host = address.slice(0, i) || "0.0.0.0";
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  const port = Number(address.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`gateway: bad port in ${address}`);
  return { host, port };
}
