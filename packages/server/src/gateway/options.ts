/** The gateway's options, its public types and their defaults. */
import type { IncomingMessage, RequestListener } from "node:http";
import type { Duplex } from "node:stream";
import type { Client, Events, Logger, Registry } from "@micro-ts/micro";
import type { CorsOptions } from "./cors.js";

/** What a request is about to reach; handed to `authorize`. */
export type GatewayTarget =
  | {
      readonly kind: "call";
      readonly service: string;
      /** Canonical `Handler.Method`. */
      readonly endpoint: string;
      readonly stream: boolean;
    }
  | { readonly kind: "publish" | "consume"; readonly topic: string }
  | { readonly kind: "openapi" };

/** Who is calling, as `authorize` establishes it. */
export interface GatewayAccount {
  /** Forwarded to the service as call metadata `micro-account-id`. */
  id: string;
  [k: string]: unknown;
}

/**
 * Decides whether a request may reach its target. Resolve with the caller's account (or
 * undefined for anonymous access); reject with a MicroError 401/403 to refuse it: its code
 * and detail become the reply.
 */
export type Authorize = (req: IncomingMessage, target: GatewayTarget) => Promise<GatewayAccount | undefined>;

export interface GatewayOptions {
  /** The client the gateway calls services through. */
  client: Client;
  /**
   * Extra HTTP handlers by the path's first segment, served before the path mapping and
   * before `authorize` (they do their own checks): e.g. `{ mcp: mcpHttpHandler(...) }` serves
   * `/mcp`. The handler reads the request body itself.
   */
  routes?: Record<string, (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse) => void | Promise<void>>;
  /** Where endpoints are looked up (path mapping, /openapi.json). */
  registry: Registry;
  /** Backs `POST /events/{topic}` and WebSocket `/events/{topic}`. @default none: those answer 501 */
  events?: Events;
  /** Largest request body (and WebSocket message) accepted, in bytes. @default 1048576 (1 MiB) */
  maxBodyBytes?: number;
  /** Per-call timeout, in ms; a call past it is answered 504. @default 10000 */
  timeout?: number;
  /** Longest time to receive a request body (or a WebSocket's first message), in ms; then 408. @default 10000 */
  bodyTimeout?: number;
  /** `server.headersTimeout` of the server `listen()` creates, in ms. @default 10000 */
  headersTimeout?: number;
  /** `server.requestTimeout` of the server `listen()` creates, in ms. @default 30000 */
  requestTimeout?: number;
  /** `server.keepAliveTimeout` of the server `listen()` creates, in ms. @default 5000 */
  keepAliveTimeout?: number;
  /** Cross-origin access from browsers. @default off: no CORS headers, OPTIONS answers 405 */
  cors?: CorsOptions;
  /** A path prefix the API is also served under: `/api/greeter/hello`. "" turns it off. @default "api" */
  namespace?: string;
  /** Where failures (5xx) are reported. @default none */
  logger?: Logger;
  /** Checks every call, stream, publish, consume and /openapi.json request. @default allow all */
  authorize?: Authorize;
  /**
   * Request headers forwarded to services as call metadata (lower-case names), or "*" for all
   * but hop-by-hop, `host`, `content-*` and `micro-*` ones.
   * @default ["traceparent", "tracestate", "x-request-id"]
   */
  metadata?: string[] | "*";
}

export interface Gateway {
  /** Listens on `host:port` (port 0 = any free port); resolves with the bound address. */
  listen(address?: string): Promise<string>;
  /** The node:http request listener, to mount the gateway on a server of your own. */
  readonly handler: RequestListener;
  /** The node:http `upgrade` listener (WebSockets), for a server of your own. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Stops listening, closes WebSockets and connections. Idempotent. */
  close(): Promise<void>;
}

export const DEFAULTS = {
  maxBodyBytes: 1 << 20,
  timeout: 10_000,
  bodyTimeout: 10_000,
  headersTimeout: 10_000,
  requestTimeout: 30_000,
  keepAliveTimeout: 5000,
  namespace: "api",
  metadata: ["traceparent", "tracestate", "x-request-id"] as string[] | "*",
} as const;

export type ResolvedOptions = Omit<GatewayOptions, keyof typeof DEFAULTS> & {
  -readonly [K in keyof typeof DEFAULTS]: K extends "metadata" ? string[] | "*" : (typeof DEFAULTS)[K] extends number ? number : string;
};

/** Merges defaults and validates, without touching the caller's object. */
export function resolveOptions(opts: GatewayOptions): Readonly<ResolvedOptions> {
  if (!opts || typeof opts.client?.call !== "function") throw new TypeError("createGateway: `client` is required");
  if (!opts.registry || typeof opts.registry.getService !== "function") throw new TypeError("createGateway: `registry` is required");
  const o: ResolvedOptions = { ...DEFAULTS, ...stripUndefined(opts) } as ResolvedOptions;
  for (const k of ["maxBodyBytes", "timeout", "bodyTimeout", "headersTimeout", "requestTimeout", "keepAliveTimeout"] as const) {
    if (!Number.isFinite(o[k]) || o[k] <= 0) throw new TypeError(`createGateway: \`${k}\` must be a positive number`);
  }
  if (o.namespace.includes("/")) throw new TypeError("createGateway: `namespace` is one path segment, e.g. \"api\"");
  if (o.metadata !== "*") o.metadata = o.metadata.map((h) => h.toLowerCase());
  return Object.freeze(o);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
