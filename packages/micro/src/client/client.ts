/** The client: calls endpoints of other services, streams from them, publishes messages. */
import type { Metadata } from "../context/context.js";
import type { Filter } from "../selector/selector.js";

export interface CallOptions {
  /** How long to wait for the reply, in ms; capped by the caller's own deadline. @default 5000 */
  timeout?: number;
  /** Extra attempts on transport errors or node loss (each on another node). @default 1 */
  retries?: number;
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Headers sent with the call (merged over the current context's metadata). */
  metadata?: Metadata;
  /** Call this node (id or address) only. */
  node?: string;
  /** Call this version only. */
  version?: string;
  /** More selector filters. */
  filters?: Filter[];
  /** Skip discovery: call this `host:port` directly. */
  address?: string;
  /** Content type of the request. @default "application/json" */
  contentType?: string;
}

/** What client middleware sees about an outgoing call. */
export interface ClientRequest {
  readonly service: string;
  readonly endpoint: string;
  readonly body: unknown;
  readonly stream: boolean;
  /** Mutable: middleware may add headers or change options. */
  readonly options: CallOptions;
}

/** Client middleware (go-micro's call wrapper). For streams, next() resolves to the AsyncIterable. */
export type ClientMiddleware = (req: ClientRequest, next: () => Promise<unknown>) => Promise<unknown>;

/** A streaming reply: iterate it; `break` (or cancel()) stops the stream on the server. */
export interface ResponseStream<T> extends AsyncIterable<T> {
  cancel(): void;
}

export interface PublishOptions {
  metadata?: Metadata;
  signal?: AbortSignal;
}

type AnyMethod = (req: never, ...rest: never[]) => unknown;

/** A typed client for a handler class: `hello(req)` → Promise of its result, `async *count` → AsyncIterable. */
export type ClientOf<T> = {
  [K in keyof T as T[K] extends AnyMethod ? (K extends `_${string}` ? never : K) : never]: T[K] extends (
    req: infer Q,
    ...rest: never[]
  ) => infer R
    ? R extends AsyncIterable<infer Y>
      ? (req: Q, o?: CallOptions) => ResponseStream<Y>
      : (req: Q, o?: CallOptions) => Promise<Awaited<R>>
    : never;
};

/**
 * Synchronous hooks around every outgoing call (cheaper than middleware), for tracing and
 * stats. `start` may return options to use instead (e.g. with a traceparent added: never
 * mutate the caller's) and a function run once when the call (or stream) ends.
 */
export interface ClientObserver {
  start(call: { readonly service: string; readonly endpoint: string; readonly stream: boolean; readonly options: CallOptions }):
    | { options?: CallOptions; end(err?: unknown): void }
    | undefined;
}

export interface Client {
  /** Calls `endpoint` (`Handler.Method`) of `service`; rejects with a MicroError. */
  call<T = unknown>(service: string, endpoint: string, req: unknown, o?: CallOptions): Promise<T>;
  /** Calls a server-streaming endpoint. */
  stream<T = unknown>(service: string, endpoint: string, req: unknown, o?: CallOptions): ResponseStream<T>;
  /** Publishes a message to a topic through the broker. */
  publish(topic: string, msg: unknown, o?: PublishOptions): Promise<void>;
  /** A typed client: `client.service<Greeter>("greeter", "Greeter").hello({ name })`. */
  service<T>(name: string, handler?: string): ClientOf<T>;
  use(mw: ClientMiddleware): void;
  /** Adds synchronous hooks run around every outgoing call (see ClientObserver). */
  observe(o: ClientObserver): void;
  /** Closes connections. */
  close(): Promise<void>;
}
