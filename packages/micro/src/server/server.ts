/**
 * The server: receives calls from a transport, decodes them, validates them, runs the
 * middleware chain and the handler, and writes the reply.
 */
import type { Context } from "../context/context.js";
import type { Endpoint } from "../registry/registry.js";
import type { HandleOptions } from "./handler.js";

/** What middleware sees about a call being handled. */
export interface ServerRequest {
  readonly service: string;
  /** `Handler.Method`. */
  readonly endpoint: string;
  /** The decoded (and validated) request. */
  readonly body: unknown;
  readonly stream: boolean;
  readonly context: Context;
}

/**
 * Server middleware (go-micro's handler wrapper): call `next()` to run the rest of the
 * chain and the handler; return its result (for streams, the AsyncIterable) or replace it.
 */
export type ServerMiddleware = (req: ServerRequest, next: () => Promise<unknown>) => Promise<unknown>;

export interface Server {
  /** Adds a handler's methods as endpoints. Call before start(). */
  handle(handler: object, o?: HandleOptions): void;
  use(mw: ServerMiddleware): void;
  /** The endpoints, in registry form. */
  endpoints(): Endpoint[];
  /** Starts listening; resolves with the bound address. */
  start(): Promise<string>;
  /**
   * Stops accepting calls (new ones get a retryable 503), waits for in-flight calls up to
   * `drainTimeout`, then closes the listener.
   */
  stop(o?: { drainTimeout?: number }): Promise<void>;
  /** The bound address, once started. */
  readonly address: string;
  /** Calls being handled now. */
  readonly inflight: number;
}
