/**
 * The transport moves messages between a client and a server. A call is a stream on a
 * connection: the client sends the first message (its headers name the service and the
 * endpoint), the server answers with one message (unary) or many (server streaming).
 * Many calls share one connection at once.
 */
import { serviceUnavailable, timeout, type MicroError } from "../errors/errors.js";

export interface Message {
  /** Lower-case header names: micro-service, micro-endpoint, content-type, micro-error, ... */
  header: Record<string, string>;
  body: Uint8Array;
}

/** Header names used on every transport (go-micro's, lower-cased). */
export const HEADERS = {
  service: "micro-service",
  endpoint: "micro-endpoint",
  contentType: "content-type",
  error: "micro-error",
  stream: "micro-stream",
  id: "micro-id",
  /** Time the caller still waits, in ms (relative: immune to clock skew). */
  timeout: "micro-timeout",
} as const;

/** The server's view of one call. */
export interface ServerStream {
  /** The call's first message. */
  readonly request: Message;
  /** The peer's address, for logs. */
  readonly remote: string;
  /** Aborted when the client cancels the call or the connection drops. */
  readonly signal: AbortSignal;
  /** Sends one item of a streaming reply. Ignored once the stream ended. */
  send(msg: Message): void;
  /** Sends the final message (the reply of a unary call, or nothing) and ends the stream. */
  end(msg?: Message): void;
  /** Resolves when the peer can take more data (backpressure for streams). */
  ready(): Promise<void>;
}

export type StreamHandler = (stream: ServerStream) => void;

/**
 * An in-process shortcut a server may offer next to its StreamHandler: the request value
 * goes to the handler as is (no encoding, no copy) and the reply value comes back the same
 * way. Only in-process transports use it. Rejects with a MicroError like a call would.
 */
export type DirectHandler = (
  header: Record<string, string>,
  request: unknown,
  deadline: number | undefined,
  signal?: AbortSignal,
) => Promise<unknown>;

/** What `listen` accepts: a stream handler, optionally carrying a direct handler. */
export type Handler = StreamHandler & { direct?: DirectHandler };

export interface Listener {
  /** The address actually bound, `host:port` (port 0 resolved). */
  readonly address: string;
  /** Stops accepting and closes every connection. In-flight streams are aborted. */
  close(): Promise<void>;
}

/** A client's view of a streaming call: the server's messages, in order. */
export interface ClientStream extends AsyncIterable<Message> {
  /** Cancels the call: the server's stream signal aborts. Idempotent. */
  cancel(): void;
}

export interface CallTransportOptions {
  signal?: AbortSignal;
  /**
   * Absolute deadline (ms since the epoch): past it the call rejects with a 408 MicroError
   * and the server is told to cancel. Cheaper than a timer signal per call.
   */
  deadline?: number;
}

/** The error a call gets when its deadline passes. */
export function deadlineError(): MicroError {
  return timeout("transport", "deadline exceeded");
}

/**
 * For transports without native deadlines: one AbortSignal for the caller's signal and the
 * deadline. `dispose` clears the timer.
 */
export function combinedSignal(o: CallTransportOptions | undefined): { signal: AbortSignal | undefined; dispose: () => void } {
  if (!o || o.deadline === undefined) return { signal: o?.signal, dispose: () => {} };
  const ctrl = new AbortController();
  const ms = o.deadline - Date.now();
  const timer = setTimeout(() => ctrl.abort(deadlineError()), Math.max(0, ms));
  const up = o.signal;
  const onAbort = () => ctrl.abort(up!.reason);
  if (up) {
    if (up.aborted) ctrl.abort(up.reason);
    else up.addEventListener("abort", onAbort, { once: true });
  }
  return {
    signal: ctrl.signal,
    dispose: () => {
      clearTimeout(timer);
      up?.removeEventListener("abort", onAbort);
    },
  };
}

export interface Connection {
  readonly address: string;
  readonly closed: boolean;
  /** Set by in-process transports when the listener offers a direct handler. */
  readonly direct?: DirectHandler;
  /**
   * Sends one message and resolves with the reply. Rejects with a retryable 503
   * MicroError when the connection fails before the reply arrives, and with the signal's
   * reason when aborted (the server is told to cancel).
   */
  request(msg: Message, o?: CallTransportOptions): Promise<Message>;
  /** Opens a server-streaming call. */
  stream(msg: Message, o?: CallTransportOptions): ClientStream;
  close(): Promise<void>;
}

export interface DialOptions {
  /** @default 5000 */
  timeout?: number;
  signal?: AbortSignal;
}

export interface Transport {
  /** "tcp", "http", "memory", ... (put in node metadata so callers pick the same). */
  readonly name: string;
  /** Listens on `host:port` (port 0: any free port) and calls `handler` for each call. */
  listen(address: string, handler: Handler): Promise<Listener>;
  /** Opens a connection; rejects with a retryable 503 MicroError when unreachable. */
  dial(address: string, o?: DialOptions): Promise<Connection>;
}

/** The error a caller sees when the peer is unreachable or the connection breaks. */
export function transportError(detail: string, cause?: unknown): MicroError {
  return serviceUnavailable("transport", detail, cause);
}

export { joinHostPort, splitHostPort } from "../util/address.js";
