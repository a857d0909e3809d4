/** Turns a handler object (a class instance) into endpoints: `Greeter.Hello`, `Greeter.Count`. */
import type { Endpoint } from "../registry/registry.js";
import type { StandardSchemaV1 } from "../schema/standard-schema.js";
import { toJSONSchema } from "../schema/standard-schema.js";

/** Per-method declarations: validation schemas, description, streaming, metadata. */
export interface EndpointOptions {
  request?: StandardSchemaV1;
  response?: StandardSchemaV1;
  description?: string;
  /** Force streaming (for methods that return an AsyncIterable without being `async *`). */
  stream?: boolean;
  metadata?: Record<string, string>;
}

export interface HandleOptions {
  /** The handler name in endpoint names. @default the class name */
  name?: string;
  /** Per-method options, keyed by method name (e.g. `hello`). */
  endpoints?: Record<string, EndpointOptions>;
  /** Metadata put on every endpoint of this handler. */
  metadata?: Record<string, string>;
}

export type HandlerFn = (req: unknown, ctx: unknown) => unknown;

export interface EndpointEntry {
  /** `Greeter.Hello`. */
  name: string;
  stream: boolean;
  fn: HandlerFn;
  options: EndpointOptions;
}

export function capitalize(s: string): string {
  return s.length === 0 ? s : s[0]!.toUpperCase() + s.slice(1);
}

function isStreamFn(fn: unknown): boolean {
  const c = (fn as { constructor?: { name?: string } }).constructor?.name;
  return c === "AsyncGeneratorFunction" || c === "GeneratorFunction";
}

function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (const k of Object.keys(obj)) names.add(k);
  for (let p = Object.getPrototypeOf(obj); p && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    for (const k of Object.getOwnPropertyNames(p)) names.add(k);
  }
  names.delete("constructor");
  return [...names].filter((n) => !n.startsWith("_") && typeof (obj as Record<string, unknown>)[n] === "function");
}

/** Reads the endpoints of a handler object. Options may also come from a static `endpoints` field. */
export function extractEndpoints(handler: object, o: HandleOptions = {}): EndpointEntry[] {
  const ctor = (handler as { constructor?: { name?: string; endpoints?: Record<string, EndpointOptions> } }).constructor;
  const name = o.name ?? (ctor && ctor.name !== "Object" ? ctor.name : undefined);
  if (!name) throw new TypeError("handler needs a name: pass a class instance or { name } in the options");
  const declared = { ...(ctor?.endpoints ?? {}), ...(o.endpoints ?? {}) };
  const out: EndpointEntry[] = [];
  for (const m of methodNames(handler)) {
    const fn = (handler as Record<string, HandlerFn>)[m]!;
    const opts = declared[m] ?? {};
    out.push({
      name: `${name}.${capitalize(m)}`,
      stream: opts.stream ?? isStreamFn(fn),
      fn: fn.bind(handler) as HandlerFn,
      options: { ...opts, metadata: { ...(o.metadata ?? {}), ...(opts.metadata ?? {}) } },
    });
  }
  if (out.length === 0) throw new TypeError(`handler ${name} has no methods`);
  return out;
}

/** The registry form of an endpoint (go-micro's shape, schemas as JSON in metadata). */
export function toRegistryEndpoint(e: EndpointEntry): Endpoint {
  const metadata: Record<string, string> = { ...(e.options.metadata ?? {}), stream: String(e.stream) };
  if (e.options.description) metadata["description"] = e.options.description;
  const req = toJSONSchema(e.options.request);
  const rsp = toJSONSchema(e.options.response);
  if (req) metadata["request_schema"] = JSON.stringify(req);
  if (rsp) metadata["response_schema"] = JSON.stringify(rsp);
  return {
    name: e.name,
    request: { name: "Request", type: "object", values: null },
    response: { name: "Response", type: e.stream ? "stream" : "object", values: null },
    metadata,
  };
}
