/**
 * Micro's error model. Every failure that crosses a service boundary is a `MicroError`
 * whose wire form is go-micro's JSON: `{"id":"greeter.hello","code":404,"detail":"...","status":"Not Found"}`.
 * `retryable` and `cause` stay local: they never travel.
 */

/** HTTP status texts for the codes Micro uses. */
export const STATUS_TEXT: Readonly<Record<number, string>> = Object.freeze({
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  413: "Payload Too Large",
  429: "Too Many Requests",
  499: "Client Closed Request",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
});

/** The JSON shape of an error on the wire. */
export interface MicroErrorJSON {
  id: string;
  code: number;
  detail: string;
  status: string;
}

export interface MicroErrorOptions {
  /** Whether a client may retry the call on another node. @default false */
  retryable?: boolean;
  /** The underlying error; never sent over the wire. */
  cause?: unknown;
}

export class MicroError extends Error {
  override readonly name = "MicroError";
  readonly id: string;
  readonly code: number;
  readonly detail: string;
  readonly status: string;
  readonly retryable: boolean;

  constructor(id: string, detail: string, code: number, opts: MicroErrorOptions = {}) {
    super(detail, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.id = id;
    this.code = code;
    this.detail = detail;
    this.status = STATUS_TEXT[code] ?? statusFor(code);
    this.retryable = opts.retryable ?? false;
  }

  toJSON(): MicroErrorJSON {
    return { id: this.id, code: this.code, detail: this.detail, status: this.status };
  }

  override toString(): string {
    return JSON.stringify(this.toJSON());
  }

  /**
   * Parses the wire form. Anything that is not a well-formed error JSON becomes an
   * InternalServerError whose detail is the original text, so nothing is lost.
   */
  static parse(text: string): MicroError {
    try {
      const v: unknown = JSON.parse(text);
      const e = fromObject(v);
      if (e) return e;
    } catch {
      // not JSON: fall through
    }
    return new MicroError("", text, 500);
  }

  /** Turns anything thrown into a MicroError; non-Micro errors become a 500 without their stack. */
  static from(err: unknown, id = ""): MicroError {
    if (err instanceof MicroError) return err;
    const e = fromObject(err);
    if (e) return e;
    if (err instanceof Error && err.name === "AbortError") {
      return new MicroError(id, "request cancelled", 499, { cause: err });
    }
    return new MicroError(id, "internal server error", 500, { cause: err });
  }
}

function fromObject(v: unknown): MicroError | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Partial<MicroErrorJSON>;
  if (typeof o.code !== "number" || typeof o.detail !== "string") return undefined;
  return new MicroError(typeof o.id === "string" ? o.id : "", o.detail, o.code);
}

function statusFor(code: number): string {
  if (code >= 500) return "Internal Server Error";
  if (code >= 400) return "Bad Request";
  return "Unknown";
}

export function isMicroError(v: unknown): v is MicroError {
  return v instanceof MicroError;
}

const make =
  (code: number, retryable = false) =>
  (id: string, detail: string, cause?: unknown): MicroError =>
    new MicroError(id, detail, code, { retryable, cause });

export const badRequest = make(400);
export const unauthorized = make(401);
export const forbidden = make(403);
export const notFound = make(404);
export const methodNotAllowed = make(405);
export const timeout = make(408);
export const conflict = make(409);
export const payloadTooLarge = make(413);
export const tooManyRequests = make(429);
export const internalServerError = make(500);
export const notImplemented = make(501);
export const badGateway = make(502, true);
export const serviceUnavailable = make(503, true);
export const gatewayTimeout = make(504);

/** `errors.new(id, detail, code)` as in go-micro. */
function newError(id: string, detail: string, code: number): MicroError {
  return new MicroError(id, detail, code);
}
export { newError as new };

/** True when the error is a network-level failure that may succeed on another node. */
export function isRetryable(err: unknown): boolean {
  return err instanceof MicroError && err.retryable;
}
