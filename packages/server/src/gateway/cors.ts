/** CORS: off unless configured; then answers preflights and labels replies to allowed origins. */
import type { IncomingMessage, OutgoingHttpHeaders } from "node:http";

export interface CorsOptions {
  /** Origins allowed to call the gateway from a browser, e.g. `["https://app.example.com"]`, or `"*"`. */
  origins: string[] | "*";
  /** Methods a preflight allows. @default ["GET", "POST", "PUT", "PATCH", "DELETE"] */
  methods?: string[];
  /** Request headers a preflight allows. @default the headers the preflight asks for */
  headers?: string[];
  /** Response headers exposed to scripts. @default none */
  expose?: string[];
  /** Send `Access-Control-Allow-Credentials: true` (never with a literal `*` origin). @default false */
  credentials?: boolean;
  /** How long a browser may cache a preflight, in seconds. @default 600 */
  maxAge?: number;
}

/** CORS resolved once at construction. */
export class Cors {
  private readonly any: boolean;
  private readonly origins: Set<string>;
  private readonly methods: string;
  private readonly headers: string | undefined;
  private readonly expose: string | undefined;
  private readonly credentials: boolean;
  private readonly maxAge: string;

  constructor(o: CorsOptions) {
    this.any = o.origins === "*";
    this.origins = new Set(o.origins === "*" ? [] : o.origins.map((x) => x.toLowerCase()));
    this.methods = (o.methods ?? ["GET", "POST", "PUT", "PATCH", "DELETE"]).join(", ");
    this.headers = o.headers?.join(", ");
    this.expose = o.expose?.length ? o.expose.join(", ") : undefined;
    this.credentials = o.credentials ?? false;
    this.maxAge = String(o.maxAge ?? 600);
  }

  /** Whether a request's Origin (if any) is allowed. */
  allows(origin: string | undefined): boolean {
    return origin === undefined || this.any || this.origins.has(origin.toLowerCase());
  }

  /** Adds the CORS headers for a request to `h` (nothing when it has no allowed Origin). */
  apply(req: IncomingMessage, h: OutgoingHttpHeaders): void {
    const origin = req.headers.origin;
    if (origin === undefined || !this.allows(origin)) return;
    h["access-control-allow-origin"] = this.any && !this.credentials ? "*" : origin;
    if (!this.any || this.credentials) h["vary"] = "Origin";
    if (this.credentials) h["access-control-allow-credentials"] = "true";
    if (this.expose) h["access-control-expose-headers"] = this.expose;
  }

  /** Headers answering a preflight, or undefined when the origin is not allowed. */
  preflight(req: IncomingMessage): OutgoingHttpHeaders | undefined {
    const origin = req.headers.origin;
    if (origin === undefined || !this.allows(origin)) return undefined;
    const h: OutgoingHttpHeaders = {};
    this.apply(req, h);
    h["access-control-allow-methods"] = this.methods;
    const asked = req.headers["access-control-request-headers"];
    const allowed = this.headers ?? asked;
    if (allowed) h["access-control-allow-headers"] = allowed;
    h["access-control-max-age"] = this.maxAge;
    h["vary"] = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
    return h;
  }
}
