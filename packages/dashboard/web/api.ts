/**
 * The dashboard's only way out: the gateway, mounted on the same origin under /api.
 *   rpc()    POST /api/rpc {service, endpoint, request}          any registered endpoint
 *   debug()  POST /api/debug {service, endpoint, request, address} Debug.Log/Stats/Health/Trace
 *   open()   WebSocket /api/{service}/{handler}/{method} or /api/events/{topic}
 * Every call carries `Authorization: Bearer` once logged in; a 401 asks for a login.
 */

/** A failed call, in Micro's error shape. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly detail: string,
    readonly id = "",
  ) {
    super(`${code} ${detail}`);
  }
}

const KEY = "micro.dashboard.token";
let token = sessionStorage.getItem(KEY) ?? "";
const listeners = new Set<() => void>();
let loginWanted = false;

export const session = {
  get token(): string {
    return token;
  },
  /** True after a call was refused with 401, until a login. */
  get loginWanted(): boolean {
    return loginWanted;
  },
  set(t: string): void {
    token = t;
    loginWanted = false;
    if (t) sessionStorage.setItem(KEY, t);
    else sessionStorage.removeItem(KEY);
    emit();
  },
  logout(): void {
    session.set("");
  },
  subscribe(fn: () => void): () => void {
    listeners.add(fn);
    return () => listeners.delete(fn);
  },
};

function emit(): void {
  for (const fn of listeners) fn();
}

async function post<T>(path: string, body: unknown): Promise<T> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers["authorization"] = `Bearer ${token}`;
  const rsp = await fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
  const text = await rsp.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { detail: text };
  }
  if (!rsp.ok) {
    const e = json as { code?: number; detail?: string; id?: string };
    if (rsp.status === 401 && !loginWanted) {
      loginWanted = true;
      emit();
    }
    throw new ApiError(rsp.status, e.detail ?? rsp.statusText, e.id ?? "");
  }
  return json as T;
}

/** Calls any registered endpoint through the gateway. */
export function rpc<T = unknown>(service: string, endpoint: string, request: unknown = {}, timeout?: number): Promise<T> {
  return post<T>("/api/rpc", { service, endpoint, request, ...(timeout ? { timeout } : {}) });
}

/** Calls a Debug endpoint of a service (of one node when `address` names one). */
export function debug<T = unknown>(service: string, endpoint: string, request: unknown = {}, address?: string): Promise<T> {
  return post<T>("/api/debug", { service, endpoint, request, ...(address ? { address } : {}) });
}

/** Publishes an event on a topic. */
export function publish(topic: string, payload: unknown): Promise<{ id: string }> {
  return post(`/api/events/${encodeURIComponent(topic)}`, payload);
}

export interface StreamHandlers {
  item(v: unknown): void;
  /** The stream ended: normally (error undefined) or with the gateway's error. */
  end(error?: ApiError): void;
}

/** Opens a WebSocket on a gateway path; sends `first` (when given) as the request. Returns a closer. */
export function open(path: string, first: unknown, h: StreamHandlers): () => void {
  const u = new URL(`/api/${path}`, location.href);
  u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
  if (token) u.searchParams.set("access_token", token);
  const ws = new WebSocket(u);
  let failed: ApiError | undefined;
  let done = false;
  ws.onopen = () => {
    if (first !== undefined) ws.send(JSON.stringify(first));
  };
  ws.onmessage = (m) => {
    let v: unknown;
    try {
      v = JSON.parse(String(m.data));
    } catch {
      v = m.data;
    }
    h.item(v);
  };
  ws.onclose = (c) => {
    if (done) return;
    done = true;
    if (c.code >= 4000) failed = new ApiError(c.code - 4000, c.reason || "stream failed");
    else if (c.code !== 1000 && c.code !== 1005) failed = new ApiError(502, c.reason || `connection closed (${c.code})`);
    if (failed?.code === 401 && !loginWanted) {
      loginWanted = true;
      emit();
    }
    h.end(failed);
  };
  return () => {
    done = true;
    ws.close();
  };
}

// --- shapes of the core services' answers ---

export interface Endpoint {
  name: string;
  metadata?: Record<string, string>;
}
export interface Node {
  id: string;
  address: string;
  metadata?: Record<string, string>;
}
export interface ServiceRecord {
  name: string;
  version: string;
  metadata?: Record<string, string>;
  endpoints?: Endpoint[];
  nodes: Node[];
}
export interface LogRecord {
  time: number;
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}
export interface Span {
  traceId: string;
  spanId: string;
  parentId?: string;
  name: string;
  kind: string;
  service: string;
  start: number;
  duration: number;
  status: "ok" | "error";
  attributes: Record<string, string | number | boolean>;
}
export interface Health {
  status: "ok" | "degraded";
  checks: Record<string, { status: string; error?: string; duration: number }>;
}

/** The core services `micro server` runs: they answer no Debug calls. */
export const CORE = new Set(["registry", "broker", "store", "config", "events", "auth", "runtime"]);

export async function listServices(): Promise<ServiceRecord[]> {
  return (await rpc<{ services: ServiceRecord[] }>("registry", "Registry.ListServices")).services ?? [];
}

export async function getService(name: string): Promise<ServiceRecord[]> {
  return (await rpc<{ services: ServiceRecord[] }>("registry", "Registry.GetService", { name })).services ?? [];
}

const SECRET = /secret|password|passwd|token|api[-_]?key|private|credential/i;

/** A copy of a JSON value with the values of secret-looking keys replaced. Display only. */
export function redact(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(redact);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = SECRET.test(k) && (typeof x !== "object" || x === null) ? "••••••" : redact(x);
    return out;
  }
  return v;
}
