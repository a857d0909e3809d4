/**
 * `micro server`: one process running the core services — registry, broker, store, config,
 * events — as ordinary Micro handlers on one RPC listener, the network proxy on that same
 * listener, and the API gateway over HTTP.
 *
 *   const server = await startServer({ dataDir: "/var/lib/micro" });
 *   // services: MICRO_SERVER=127.0.0.1:8081   HTTP: curl 127.0.0.1:8080/greeter/hello
 *
 * Each core service gets its own registry record (`micro services` lists them), all pointing
 * at the one address; the service-backed clients call them by address, without discovery.
 * The runtime service is not here yet: the core has no Runtime interface to serve.
 */
import { mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  createLogger,
  fileEvents,
  fileStore,
  localRuntime,
  memoryRegistry,
  RuntimeHandler,
  RpcClient,
  RpcServer,
  tcpTransport,
  prometheusText,
  PROMETHEUS_CONTENT_TYPE,
  type StatsSnapshot,
  type Broker,
  type Events,
  type Logger,
  type Registry,
  type ServiceRecord,
  type Store,
  type Transport,
  newAuth, // auth (issue 5)
  localVerifier, // auth (issue 5)
  type DefaultAuth, // auth (issue 5)
} from "@micro-ts/micro";
import { createGateway } from "./gateway/gateway.js";
import { mcpAuth } from "./mcp/auth.js";
import { mcpHttpHandler, type McpHttpHandler } from "./mcp/http.js";
import { createMcpServer } from "./mcp/server.js";
import type { Gateway, GatewayOptions } from "./gateway/options.js";
import { BrokerHandler } from "./services/broker.js";
import { ConfigHandler } from "./services/config.js";
import { EventsHandler } from "./services/events.js";
import { Proxy } from "./services/proxy.js";
import { RegistryHandler } from "./services/registry.js";
import { StoreHandler } from "./services/store.js";
// --- auth (issue 5) ---
import { AuthHandler, bootstrapAuth, coreAuthMiddleware, gatewayAuthorize, shouldEnableAuth, withServiceAccounts } from "./services/auth.js";
// --- end auth ---
// --- dashboard (issue 7) ---
import { createReadStream, statSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { extname, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { errors as dashboardErrors, MicroError as DashboardError, type Client as DashboardClient } from "@micro-ts/micro";
import { isLoopback as dashboardIsLoopback } from "./services/auth.js";
import type { Authorize as DashboardAuthorize } from "./gateway/options.js";
// --- end dashboard ---

export interface ServerOptions {
  /** Where the store and the event log live. @default MICRO_DATA_DIR or ~/.micro */
  dataDir?: string;
  /** The RPC listener of the core services and the proxy (what MICRO_SERVER points at). @default "127.0.0.1:8081" */
  address?: string;
  /** The API gateway's HTTP listener; false runs no gateway. @default "127.0.0.1:8080" */
  gatewayAddress?: string | false;
  /** Extra gateway options (CORS, limits, authorize, ...). */
  gateway?: Omit<GatewayOptions, "client" | "registry" | "events">;
  /** Forward calls for other services (MICRO_PROXY clients). @default true */
  proxy?: boolean;
  /** @default tcp */
  transport?: Transport;
  /** How often expired registrations are swept, in ms. @default 1000 */
  sweepInterval?: number;
  /**
   * Run the core services on real engines instead of the embedded defaults
   * (`micro server --registry etcd --store postgres --broker nats --events nats`), so the
   * platform's state survives the loss of this process. @default memory registry, file store,
   * in-process broker, file events under dataDir
   */
  registry?: Registry;
  store?: Store;
  broker?: Broker;
  events?: Events;
  logger?: Logger;
  // --- auth (issue 5) ---
  /**
   * Require tokens (gateway and the `auth` service's endpoints). @default off while every
   * listener is on loopback, on as soon as one is not; false while exposed prints a loud warning.
   */
  auth?: boolean;
  /** Receives the generated admin password on first start with auth on. @default printed once to stdout */
  announceAdmin?: (id: string, password: string) => void;
  // --- end auth ---
  // --- dashboard (issue 7) ---
  /**
   * The dashboard's HTTP listener (the web UI's static files, and the gateway under `/api`), or
   * false for none. Needs the gateway. @default "127.0.0.1:8082"; "127.0.0.1:0" when the gateway
   * is on port 0 (tests, embedding), so such servers never contend for 8082
   */
  dashboard?: string | false;
  // --- end dashboard ---
}

export interface RunningServer {
  /** The bound RPC address, `host:port`. */
  readonly address: string;
  /** The bound gateway address, or "" without a gateway. */
  readonly gatewayAddress: string;
  readonly dataDir: string;
  /** The server's own registry, store and events (for embedding and tests). */
  readonly registry: Registry;
  readonly store: Store;
  readonly events: Events;
  // --- auth (issue 5) ---
  /** The server's Auth (on its store), and whether it is enforced. */
  readonly auth: DefaultAuth;
  readonly authEnabled: boolean;
  // --- end auth ---
  /** The bound dashboard address, or "" without a dashboard. (dashboard, issue 7) */
  readonly dashboardAddress: string;
  /** Stops the gateway, ends every stream, closes the listener, flushes the store and log. Idempotent. */
  stop(): Promise<void>;
}

/** The core services, in the order they are listed. */
export const CORE_SERVICES = ["registry", "broker", "store", "config", "events", "auth", "runtime"] as const;

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const dataDir = resolve(opts.dataDir ?? process.env["MICRO_DATA_DIR"] ?? join(homedir(), ".micro"));
  mkdirSync(dataDir, { recursive: true });
  const logger = opts.logger ?? createLogger({ fields: { service: "micro.server" } });
  const transport = opts.transport ?? tcpTransport({ logger });
  const registry = opts.registry ?? memoryRegistry({ sweepInterval: opts.sweepInterval ?? 1000 });
  let store: Store;
  if (opts.store) store = opts.store;
  else {
    const fs = fileStore({ dir: join(dataDir, "store"), logger });
    await fs.open();
    store = fs;
  }
  const events = opts.events ?? (await fileEvents({ dir: join(dataDir, "events"), logger }));

  const broker = new BrokerHandler(opts.broker);
  const config = new ConfigHandler(store);
  const proxy = opts.proxy === false ? undefined : new Proxy({ registry, transport, logger });
  const rpc = new RpcServer({
    name: "micro.server",
    aliases: CORE_SERVICES,
    transport,
    address: opts.address ?? "127.0.0.1:8081",
    logger,
    ...(proxy ? { fallback: proxy.handle } : {}),
  });
  const registryHandler = new RegistryHandler(registry);
  const eventsHandler = new EventsHandler(events);
  rpc.handle(registryHandler, { name: "Registry" });
  rpc.handle(broker, { name: "Broker" });
  rpc.handle(new StoreHandler(store), { name: "Store" });
  rpc.handle(config, { name: "Config" });
  rpc.handle(eventsHandler, { name: "Events" });
  // --- auth (issue 5) ---
  const auth = newAuth({ store });
  const decision = shouldEnableAuth([opts.address ?? "127.0.0.1:8081", opts.gatewayAddress ?? "127.0.0.1:8080"], opts.auth);
  if (decision.warning) {
    logger.warn(decision.warning);
    process.stderr.write(`\n!!! ${decision.warning}\n\n`);
  }
  rpc.handle(new AuthHandler(auth), { name: "Auth" });
  if (decision.enabled) {
    await bootstrapAuth(auth, opts.announceAdmin ? { announce: opts.announceAdmin } : {});
    rpc.use(coreAuthMiddleware(auth));
  }
  // --- end auth ---
  const address = await rpc.start();
  // The local runtime (`micro run`): the services it starts are pointed at this server.
  const runtime = localRuntime({ dataDir: join(dataDir, "runtime"), env: { MICRO_SERVER: address } });
  // auth (issue 5): with auth on, each service it starts gets a service account (MICRO_AUTH_ID/SECRET).
  rpc.handle(new RuntimeHandler(decision.enabled ? withServiceAccounts(runtime, auth) : runtime), { name: "Runtime" });

  // One record per core service, all on this listener, so `micro services` shows them.
  const records: ServiceRecord[] = CORE_SERVICES.map((name) => {
    const prefix = `${name[0]!.toUpperCase()}${name.slice(1)}.`;
    return {
      name,
      version: "latest",
      metadata: { server: "micro-ts" },
      endpoints: rpc.endpoints().filter((e) => e.name.startsWith(prefix)),
      nodes: [{ id: `${name}-${address}`, address, metadata: { transport: transport.name, protocol: "mucp", server: "micro-ts" } }],
    };
  });
  for (const r of records) await registry.register(r);

  // The gateway calls services found in this server's registry: what registered here is reachable over HTTP.
  const client = new RpcClient({ registry, transport });
  let gateway: Gateway | undefined;
  let mcp: McpHttpHandler | undefined;
  let gatewayAddress = "";
  if (opts.gatewayAddress !== false) {
    // --- auth (issue 5): with auth on, the gateway checks tokens and rules, and forwards the token ---
    const gatewayAuth = decision.enabled
      ? {
          authorize: opts.gateway?.authorize ?? gatewayAuthorize({ auth, verifier: localVerifier({ keys: () => auth.publicKeys() }) }),
          metadata: opts.gateway?.metadata ?? ["traceparent", "tracestate", "x-request-id", "authorization"],
        }
      : {};
    // MCP over Streamable HTTP at /mcp: every endpoint a tool, checked like any gateway call.
    mcp = mcpHttpHandler(
      () =>
        createMcpServer({
          registry,
          client,
          ...(decision.enabled ? mcpAuth({ verifier: localVerifier({ keys: () => auth.publicKeys() }), rules: auth }) : {}),
        }),
      { logger },
    );
    // GET /metrics: Prometheus text of every registered service (Debug.Stats of one node each).
    // With auth on it is not mounted: scrape the services' own metrics listeners instead.
    const metrics = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (req.method !== "GET") {
        res.writeHead(405, { "content-type": "application/json" }).end(JSON.stringify(dashboardErrors.methodNotAllowed("gateway", "GET /metrics").toJSON()));
        return;
      }
      const snaps: StatsSnapshot[] = [];
      const skip = new Set<string>([...CORE_SERVICES, "micro.http.broker"]);
      for (const svc of await registry.listServices()) {
        if (skip.has(svc.name)) continue;
        skip.add(svc.name);
        const node = (await registry.getService(svc.name).catch(() => []))[0]?.nodes[0];
        if (!node) continue;
        const snap = await client.call<StatsSnapshot>(svc.name, "Debug.Stats", {}, { address: node.address, timeout: 2000, retries: 0 }).catch(() => undefined);
        if (snap) snaps.push(snap);
      }
      res.writeHead(200, { "content-type": PROMETHEUS_CONTENT_TYPE }).end(prometheusText(snaps));
    };
    const routes = { ...(opts.gateway?.routes ?? {}), mcp, ...(decision.enabled ? {} : { metrics }) };
    gateway = createGateway({ ...(opts.gateway ?? {}), ...gatewayAuth, routes, client, registry, events, logger });
    gatewayAddress = await gateway.listen(opts.gatewayAddress ?? "127.0.0.1:8080");
  }
  // --- dashboard (issue 7): the web UI, with the gateway mounted under /api on the same origin ---
  let dashboard: DashboardServer | undefined;
  if (gateway && opts.dashboard !== false) {
    const wanted = opts.dashboard ?? (/:0$/.test(String(opts.gatewayAddress ?? "")) ? "127.0.0.1:0" : "127.0.0.1:8082");
    if (!decision.enabled && !dashboardIsLoopback(wanted)) {
      const warning = `the dashboard on ${wanted} is reachable from other machines with auth off: anyone there can call every service`;
      logger.warn(warning);
      process.stderr.write(`\n!!! ${warning}\n\n`);
    }
    const authorize = decision.enabled
      ? (opts.gateway?.authorize ?? gatewayAuthorize({ auth, verifier: localVerifier({ keys: () => auth.publicKeys() }) }))
      : opts.gateway?.authorize;
    dashboard = await startDashboard({ address: wanted, gateway, client, registry, ...(authorize ? { authorize } : {}) });
  }
  // --- end dashboard ---
  logger.info("micro server started", { address, gateway: gatewayAddress || "off", dashboard: dashboard?.address ?? "off", dataDir });

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    await dashboard?.close(); // dashboard (issue 7)
    await mcp?.close();
    await gateway?.close();
    // End the long-lived streams first, so draining waits only for ordinary calls.
    registryHandler.close();
    broker.close();
    config.close();
    eventsHandler.close();
    await rpc.stop({ drainTimeout: 2000 });
    await runtime.stop();
    await proxy?.close();
    await client.close();
    await events.close();
    await auth.close(); // auth (issue 5)
    await store.close();
    await registry.close();
    await opts.broker?.close();
    logger.info("micro server stopped", { address });
  };
  return {
    address,
    gatewayAddress,
    dataDir,
    registry,
    store,
    events,
    auth, // auth (issue 5)
    authEnabled: decision.enabled, // auth (issue 5)
    dashboardAddress: dashboard?.address ?? "", // dashboard (issue 7)
    stop: () => (stopping ??= stop()),
  };
}

/** `node server.ts [--data-dir DIR] [--address HOST:PORT] [--gateway-address HOST:PORT|off]`; prints the addresses as JSON. */
async function main(argv: string[]): Promise<void> {
  const opts: ServerOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split("=", 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i] ?? "";
    if (flag === "--data-dir") opts.dataDir = value();
    else if (flag === "--address") opts.address = value();
    else if (flag === "--gateway-address") {
      const v = value();
      opts.gatewayAddress = v === "off" ? false : v;
    } else if (flag === "--dashboard-address") {
      // dashboard (issue 7): --dashboard-address HOST:PORT|off
      const v = value();
      opts.dashboard = v === "off" ? false : v;
    } else if (flag === "--auth") {
      // auth (issue 5): --auth, --auth=true, --auth=false
      opts.auth = inline === undefined ? true : inline !== "false" && inline !== "off";
    } else {
      process.stderr.write(`unknown flag ${flag}\nusage: micro server [--data-dir DIR] [--address HOST:PORT] [--gateway-address HOST:PORT|off] [--dashboard-address HOST:PORT|off] [--auth[=false]]\n`);
      process.exit(2);
    }
  }
  const s = await startServer(opts);
  process.stdout.write(`${JSON.stringify({ address: s.address, gatewayAddress: s.gatewayAddress, dashboardAddress: s.dashboardAddress, dataDir: s.dataDir })}\n`);
  const onSignal = () => {
    s.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    process.stderr.write(`micro server: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}

// --- dashboard (issue 7) ---------------------------------------------------------------
// The dashboard's listener: the built web UI (packages/dashboard/dist) as static files, the
// gateway mounted in-process under /api (same origin: no CORS, and WebSockets may carry the
// token as ?access_token=, which browsers cannot put in a header), and POST /api/debug for the
// Debug.* endpoints every service answers but no registry record lists (so /rpc cannot route them).

/** Where `vite build` leaves the dashboard, seen from src/server.ts and dist/server.js alike. */
export const DASHBOARD_DIST = fileURLToPath(new URL("../../dashboard/dist/", import.meta.url));

const DASHBOARD_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};
const DASHBOARD_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "content-security-policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
} as const;
const DEBUG_ENDPOINTS = new Set(["Debug.Log", "Debug.Stats", "Debug.Health", "Debug.Trace"]);

interface DashboardServer {
  readonly address: string;
  close(): Promise<void>;
}

function dashboardText(res: ServerResponse, code: number, text: string): void {
  res.writeHead(code, { ...DASHBOARD_HEADERS, "content-type": "text/plain; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/**
 * A static file handler for the built dashboard: GET/HEAD only; paths with `..`, backslashes
 * or NULs are refused (400); a path without an extension that names no file gets index.html
 * (the single-page app routes it); a missing asset is a 404.
 */
export function dashboardStatic(dir: string = DASHBOARD_DIST): (req: IncomingMessage, res: ServerResponse) => void {
  const root = dir.endsWith(sep) ? dir : dir + sep;
  const file = (p: string) => {
    try {
      const st = statSync(p);
      return st.isFile() ? st : undefined;
    } catch {
      return undefined;
    }
  };
  return (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") return dashboardText(res, 405, "method not allowed\n");
    const raw = (req.url ?? "/").split("?")[0]!;
    let path: string;
    try {
      path = decodeURIComponent(raw);
    } catch {
      return dashboardText(res, 400, "malformed path\n");
    }
    const parts = path.split("/").filter((p) => p !== "" && p !== ".");
    if (!path.startsWith("/") || parts.some((p) => p === ".." || p.includes("\\") || p.includes("\0"))) {
      return dashboardText(res, 400, "invalid path\n");
    }
    let target = root + parts.join(sep);
    let st = parts.length ? file(target) : undefined;
    const asset = parts.length > 0 && extname(parts.at(-1)!) !== "";
    if (!st && asset) return dashboardText(res, 404, "not found\n");
    if (!st) {
      target = `${root}index.html`;
      st = file(target);
      if (!st) return dashboardText(res, 503, "the dashboard is not built: run `npm run -w @micro-ts/dashboard build`\n");
    }
    const type = DASHBOARD_TYPES[extname(target)] ?? "application/octet-stream";
    // vite puts content hashes in the names under assets/: those never change
    const cache = parts[0] === "assets" && st && target !== `${root}index.html` ? "public, max-age=31536000, immutable" : "no-cache";
    res.writeHead(200, { ...DASHBOARD_HEADERS, "content-type": type, "content-length": st.size, "cache-control": cache });
    if (req.method === "HEAD") return void res.end();
    createReadStream(target)
      .on("error", () => res.destroy())
      .pipe(res);
  };
}

/** POST /api/debug {service, endpoint: "Debug.Log"|..., request?, address?}: one Debug call, to one node when `address` names one. */
async function dashboardDebug(
  req: IncomingMessage,
  res: ServerResponse,
  o: { client: DashboardClient; registry: Registry; authorize?: DashboardAuthorize },
): Promise<void> {
  if (req.method !== "POST") throw dashboardErrors.methodNotAllowed("dashboard", "POST /api/debug");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 65536) throw dashboardErrors.new("dashboard", "request too large", 413);
    chunks.push(c);
  }
  let b: Record<string, unknown>;
  try {
    b = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}") as Record<string, unknown>;
  } catch {
    throw dashboardErrors.badRequest("dashboard", "malformed JSON");
  }
  const { service, endpoint, address } = b ?? {};
  const request = b?.["request"] ?? {};
  if (typeof service !== "string" || !service || typeof endpoint !== "string" || !DEBUG_ENDPOINTS.has(endpoint)) {
    throw dashboardErrors.badRequest("dashboard", `/api/debug needs {service, endpoint: one of ${[...DEBUG_ENDPOINTS].join(", ")}}`);
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) throw dashboardErrors.badRequest("dashboard", "request must be an object");
  if (address !== undefined) {
    // only a node the registry lists: the server dials nothing a browser makes up
    const nodes = (await o.registry.getService(service).catch(() => [])).flatMap((r) => r.nodes);
    if (typeof address !== "string" || !nodes.some((n) => n.address === address)) throw dashboardErrors.notFound("dashboard", `${service} has no node ${String(address)}`);
  }
  const account = await o.authorize?.(req, { kind: "call", service, endpoint, stream: false });
  const metadata: Record<string, string> = {};
  if (typeof req.headers.authorization === "string") metadata["authorization"] = req.headers.authorization;
  if (account) metadata["micro-account-id"] = account.id;
  const rsp = await o.client.call(service, endpoint, request, { timeout: 5000, metadata, ...(typeof address === "string" ? { address } : {}) });
  const body = JSON.stringify(rsp ?? {});
  res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
  res.end(body);
}

/** Strips the /api prefix; a WebSocket's `access_token` query parameter becomes its Authorization header. */
function toGateway(req: IncomingMessage, ws: boolean): void {
  const url = new URL(req.url ?? "/", "http://dashboard");
  if (ws) {
    const token = url.searchParams.get("access_token");
    if (token) req.headers.authorization = `Bearer ${token}`;
    url.searchParams.delete("access_token");
  }
  req.url = (url.pathname.slice(4) || "/") + url.search;
}

async function startDashboard(o: {
  address: string;
  gateway: Gateway;
  client: DashboardClient;
  registry: Registry;
  authorize?: DashboardAuthorize;
  dir?: string;
}): Promise<DashboardServer> {
  const files = dashboardStatic(o.dir);
  const fail = (res: ServerResponse, e: unknown) => {
    const err = DashboardError.from(e, "dashboard");
    if (res.headersSent) return void res.destroy();
    const body = JSON.stringify(err.toJSON());
    res.writeHead(err.code >= 400 && err.code <= 599 ? err.code : 500, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };
  const server: HttpServer = createHttpServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const url = req.url ?? "/";
    if (url === "/api/debug" || url.startsWith("/api/debug?")) return void dashboardDebug(req, res, o).catch((e: unknown) => fail(res, e));
    if (url === "/api" || url.startsWith("/api/") || url.startsWith("/api?")) {
      toGateway(req, false);
      return o.gateway.handler(req, res);
    }
    files(req, res);
  });
  server.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
    if (!(req.url ?? "").startsWith("/api/")) return void socket.destroy();
    toGateway(req, true);
    o.gateway.upgrade(req, socket, head);
  });
  server.on("clientError", (_e, socket) => socket.destroy());
  const i = o.address.lastIndexOf(":");
  const host = o.address.slice(0, i).replace(/^\[|\]$/g, "") || "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(o.address.slice(i + 1)), host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address();
  const address = a && typeof a === "object" ? (a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`) : String(a);
  return {
    address,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
// --- end dashboard ---------------------------------------------------------------------
