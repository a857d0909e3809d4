/**
 * Path → (service, endpoint): Micro's API mapping, resolved against the registry.
 *
 *   /greeter                 → greeter     Greeter.Call
 *   /greeter/say-hello       → greeter     Greeter.SayHello
 *   /greeter/handler/method  → greeter     Handler.Method
 *   /v1/greeter/hello        → v1.greeter  Greeter.Hello   (a first /^v\d+$/ segment joins the next)
 *   /a/b/c/d                 → a.b         C.D             (service: all but the last two segments)
 *
 * Matching is case-insensitive and ignores `-`/`_`; the canonical endpoint name comes from
 * the registry. Resolutions are cached per path and re-checked against the registry cache's
 * record array (a new array means the service changed).
 */
import { type CacheRegistry, type Endpoint, errors, MicroError, type ServiceRecord } from "@micro-ts/micro";

/** What a path resolved to. */
export interface Target {
  readonly service: string;
  /** Canonical `Handler.Method`, as registered. */
  readonly endpoint: string;
  readonly stream: boolean;
  /** The registered endpoint (schemas, description in its metadata). */
  readonly info: Endpoint;
}

/** One way to read a path: a service and the endpoint it would be. */
interface Candidate {
  service: string;
  /** Normalized `handler.method`. */
  key: string;
  /** Normalized method alone: a unique method of that name on any handler also matches. */
  method?: string;
}

const SEPARATORS = /[-_]/g;
const VERSION = /^v\d+$/;
/** A path segment after percent-decoding: names only, never `.`/`..`, NULs or slashes. */
const SEGMENT = /^[A-Za-z0-9_.-]{1,128}$/;

/** Lower-cased, without `-`/`_`: the form names are compared in. */
export function normalize(s: string): string {
  return s.toLowerCase().replace(SEPARATORS, "");
}

/** `say-hello` → `SayHello` (for error messages only; matching uses the registry's names). */
export function camel(s: string): string {
  return s
    .split(SEPARATORS)
    .map((p) => (p.length ? p[0]!.toUpperCase() + p.slice(1) : p))
    .join("");
}

/**
 * Splits and validates a path (without the query string). Returns the decoded segments, or
 * throws a 400 for anything that is not a plain name (`..`, `%00`, encoded slashes, ...).
 */
export function segments(pathname: string): string[] {
  if (pathname.length > 2048) throw new MicroError("gateway", "path too long", 414);
  const out: string[] = [];
  for (const raw of pathname.split("/")) {
    if (raw === "") continue;
    let s = raw;
    if (raw.includes("%")) {
      try {
        s = decodeURIComponent(raw);
      } catch {
        throw errors.badRequest("gateway", "malformed path encoding");
      }
    }
    if (!SEGMENT.test(s) || s === "." || s === ".." || s.includes("..")) throw errors.badRequest("gateway", "invalid path");
    out.push(s);
  }
  return out;
}

/** The readings of a path, most likely first (go-micro's rules, then looser fallbacks). */
export function candidates(parts: readonly string[]): Candidate[] {
  let p = parts;
  if (p.length >= 2 && VERSION.test(p[0]!)) p = [`${p[0]}.${p[1]}`, ...p.slice(2)];
  const n = p.length;
  const out: Candidate[] = [];
  if (n === 0) return out;
  const base = (s: string) => normalize(s.slice(s.lastIndexOf(".") + 1));
  if (n === 1) {
    out.push({ service: p[0]!, key: `${base(p[0]!)}.call`, method: "call" });
  } else if (n === 2) {
    out.push({ service: p[0]!, key: `${base(p[0]!)}.${normalize(p[1]!)}`, method: normalize(p[1]!) });
    out.push({ service: p[0]!, key: `${normalize(p[1]!)}.call` });
    out.push({ service: `${p[0]}.${p[1]}`, key: `${normalize(p[1]!)}.call`, method: "call" });
  } else {
    const svc = p.slice(0, n - 2).join(".");
    out.push({ service: svc, key: `${normalize(p[n - 2]!)}.${normalize(p[n - 1]!)}` });
    // the 2-segment rule on a dotted service: /foo/bar/hello → foo.bar Bar.Hello
    const dotted = p.slice(0, n - 1).join(".");
    out.push({ service: dotted, key: `${normalize(p[n - 2]!)}.${normalize(p[n - 1]!)}`, method: normalize(p[n - 1]!) });
  }
  return out;
}

/** The endpoints of a service's records (all versions), indexed by normalized name. */
interface Index {
  byKey: Map<string, Endpoint>;
  /** normalized method → endpoints with that method on any handler. */
  byMethod: Map<string, Endpoint[]>;
  names: string[];
}

const indexes = new WeakMap<ServiceRecord[], Index>();

export function indexOf(records: ServiceRecord[]): Index {
  let ix = indexes.get(records);
  if (ix) return ix;
  ix = { byKey: new Map(), byMethod: new Map(), names: [] };
  for (const r of records) {
    for (const e of r.endpoints ?? []) {
      const key = normalize(e.name);
      if (ix.byKey.has(key)) continue;
      ix.byKey.set(key, e);
      ix.names.push(e.name);
      const m = key.slice(key.indexOf(".") + 1);
      const list = ix.byMethod.get(m);
      if (list) list.push(e);
      else ix.byMethod.set(m, [e]);
    }
  }
  ix.names.sort();
  indexes.set(records, ix);
  return ix;
}

export function isStream(e: Endpoint): boolean {
  return e.metadata?.["stream"] === "true";
}

/** Finds an endpoint of a service by a user-typed name (`greeter.say-hello`), case-insensitively. */
export function findEndpoint(records: ServiceRecord[], name: string): Endpoint | undefined {
  return indexOf(records).byKey.get(normalize(name));
}

function match(records: ServiceRecord[], c: Candidate): Endpoint | undefined {
  const ix = indexOf(records);
  const e = ix.byKey.get(c.key);
  if (e || c.method === undefined) return e;
  const same = ix.byMethod.get(c.method);
  return same && same.length === 1 ? same[0] : undefined;
}

interface CacheEntry {
  target: Target;
  records: ServiceRecord[];
  expires: number;
}

export interface RouterOptions {
  registry: CacheRegistry;
  /** How long a path's resolution is trusted without re-checking, in ms. */
  ttl?: number;
}

const MAX_CACHED = 10_000;
const NEGATIVE_TTL = 1000;

/** Resolves paths to targets; synchronously when the path and its service are cached. */
export class Router {
  private readonly registry: CacheRegistry;
  private readonly ttl: number;
  private readonly cache = new Map<string, CacheEntry>();
  /** Services recently found missing: garbage paths must not hammer the registry. */
  private readonly missing = new Map<string, number>();

  constructor(o: RouterOptions) {
    this.registry = o.registry;
    this.ttl = o.ttl ?? 5000;
  }

  /** The cached target for a path, when still valid. */
  cached(path: string): Target | undefined {
    const c = this.cache.get(path);
    if (!c) return undefined;
    if (c.expires > Date.now() && this.registry.peek(c.target.service) === c.records) return c.target;
    this.cache.delete(path);
    return undefined;
  }

  /** The records of a service, or undefined when it is not registered. */
  async records(name: string): Promise<ServiceRecord[] | undefined> {
    const hit = this.registry.peek(name);
    if (hit) return hit;
    const miss = this.missing.get(name);
    if (miss !== undefined && miss > Date.now()) return undefined;
    try {
      const r = await this.registry.lookup(name);
      return r.length > 0 && r.some((x) => x.nodes.length > 0 || (x.endpoints?.length ?? 0) > 0) ? r : undefined;
    } catch (e) {
      if (e instanceof MicroError && e.code === 404) {
        if (this.missing.size >= MAX_CACHED) this.missing.clear();
        this.missing.set(name, Date.now() + NEGATIVE_TTL);
        return undefined;
      }
      throw errors.serviceUnavailable("gateway", `registry unavailable: ${e instanceof Error ? e.message : String(e)}`, e);
    }
  }

  /** Resolves path segments (cache key `path`) or throws a 404 naming the service or endpoint. */
  async resolve(path: string, parts: readonly string[]): Promise<Target> {
    const cands = candidates(parts);
    if (cands.length === 0) throw errors.notFound("gateway", "no service in path: try /{service}/{method}");
    let first: { name: string; records: ServiceRecord[] } | undefined;
    const seen = new Map<string, ServiceRecord[] | undefined>();
    for (const c of cands) {
      let records: ServiceRecord[] | undefined;
      if (seen.has(c.service)) records = seen.get(c.service);
      else seen.set(c.service, (records = await this.records(c.service)));
      if (!records) continue;
      first ??= { name: c.service, records };
      const e = match(records, c);
      if (!e) continue;
      const target: Target = { service: c.service, endpoint: e.name, stream: isStream(e), info: e };
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(path, { target, records, expires: Date.now() + this.ttl });
      return target;
    }
    const c0 = cands[0]!;
    if (!first) throw errors.notFound("gateway", `service ${c0.service} not found`);
    const wanted = cands.find((c) => c.service === first.name)!;
    const names = indexOf(first.records).names;
    throw errors.notFound(
      "gateway",
      `endpoint ${describeKey(wanted.key, parts)} not found on service ${first.name}; it has: ${names.length ? names.join(", ") : "(none)"}`,
    );
  }

  /** Resolves an explicit (service, endpoint) pair, as /rpc gives them. */
  async explicit(service: string, endpoint: string): Promise<Target> {
    const records = await this.records(service);
    if (!records) throw errors.notFound("gateway", `service ${service} not found`);
    const e = findEndpoint(records, endpoint);
    if (!e) {
      const names = indexOf(records).names;
      throw errors.notFound("gateway", `endpoint ${endpoint} not found on service ${service}; it has: ${names.length ? names.join(", ") : "(none)"}`);
    }
    return { service, endpoint: e.name, stream: isStream(e), info: e };
  }
}

/** A readable `Handler.Method` for a normalized key, taken from the path's own spelling. */
function describeKey(key: string, parts: readonly string[]): string {
  const [h = "", m = ""] = key.split(".");
  const spelled = (k: string) => {
    const p = parts.find((x) => normalize(x.slice(x.lastIndexOf(".") + 1)) === k);
    return p ? camel(p.slice(p.lastIndexOf(".") + 1)) : k;
  };
  return `${spelled(h)}.${spelled(m)}`;
}
