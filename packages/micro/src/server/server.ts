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

/**
 * Synchronous hooks around every handled call: cheaper than middleware (no promise, no frame
 * per call), for stats and tracing. `start` runs as the call begins (before validation and
 * middleware); the function it returns, if any, runs once when the call ends — for a stream,
 * when the stream ends — with the error if it failed.
 */
export interface ServerObserver {
  start(call: { readonly service: string; readonly endpoint: string; readonly stream: boolean; readonly context: Context }): ((err?: unknown) => void) | undefined;
}

export interface Server {
  /** Adds a handler's methods as endpoints. Call before start(). */
  handle(handler: object, o?: HandleOptions): void;
  use(mw: ServerMiddleware): void;
  /** Adds synchronous hooks run around every call (see ServerObserver). */
  observe(o: ServerObserver): void;
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
