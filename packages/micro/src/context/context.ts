/**
 * The call context: metadata, a deadline, cancellation, trace ids and the caller's
 * account. It flows through nested calls via AsyncLocalStorage, so a deadline set at the
 * gateway reaches every service behind it.
 */
import { AsyncLocalStorage } from "node:async_hooks";

export type Metadata = Record<string, string>;

export interface Context {
  /** Lower-cased string headers sent with the call (user metadata, traceparent, ...). */
  readonly metadata: Metadata;
  /** Absolute deadline in ms since the epoch, if any. */
  readonly deadline?: number;
  /** Aborted when the caller cancels, the deadline passes or the connection drops. */
  readonly signal: AbortSignal;
  /** The service and endpoint being handled. */
  readonly service?: string;
  readonly endpoint?: string;
  /** The authenticated account, when auth is on. */
  readonly account?: unknown;
}

const storage = new AsyncLocalStorage<Context>();

/** The context of the call being handled, if any. */
export function currentContext(): Context | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current context. */
export function runWithContext<T>(ctx: Context, fn: () => T): T {
  return storage.run(ctx, fn);
}

const NEVER = new AbortController().signal;

/** A context with the given metadata merged into the current one (for outgoing calls). */
export function withMetadata<T>(md: Metadata, fn: () => T): T {
  const cur = storage.getStore();
  const metadata: Metadata = { ...(cur?.metadata ?? {}) };
  for (const [k, v] of Object.entries(md)) metadata[k.toLowerCase()] = v;
  // Fields copied one by one: the current context may be a class with getters (a spread would drop them).
  const next: Context = {
    metadata,
    signal: cur?.signal ?? NEVER,
    ...(cur?.deadline !== undefined ? { deadline: cur.deadline } : {}),
    ...(cur?.service !== undefined ? { service: cur.service } : {}),
    ...(cur?.endpoint !== undefined ? { endpoint: cur.endpoint } : {}),
    ...(cur?.account !== undefined ? { account: cur.account } : {}),
  };
  return storage.run(next, fn);
}

/** Lower-cases metadata keys (headers are case-insensitive). */
export function normalizeMetadata(md: Metadata | undefined): Metadata {
  const out: Metadata = {};
  if (!md) return out;
  for (const [k, v] of Object.entries(md)) out[k.toLowerCase()] = String(v);
  return out;
}
