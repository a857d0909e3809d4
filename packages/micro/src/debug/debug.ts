/**
 * The debug domain: what every service answers on its `Debug` handler, and the options
 * that shape it. The endpoints:
 *
 *   Debug.Log    { count?, since?, level? }                 → { records: LogRecord[] }
 *   Debug.Logs   { count?, since?, level?, stream? }        → stream of LogRecord (follows until cancelled)
 *   Debug.Stats  {}                                         → StatsSnapshot
 *   Debug.Health {}                                         → HealthResponse
 *   Debug.Trace  { traceId?, count? }                       → { spans: Span[] }
 */
import type { Level, LogRecord } from "../logger/logger.js";

export type { LogRecord };

/** The handler name every service answers debug calls on. */
export const DEBUG_HANDLER = "Debug";

export interface LogRequest {
  /** The most recent `count` records. @default all in the buffer */
  count?: number;
  /** Only records at or after this time (ms since the epoch). */
  since?: number;
  /** Only records at or above this level. */
  level?: Exclude<Level, "silent">;
  /**
   * Debug.Logs only: after the buffered records, follow new ones until cancelled.
   * @default true for Debug.Logs; Debug.Log refuses `true` with a 400 (use Debug.Logs)
   */
  stream?: boolean;
}

export interface LogResponse {
  records: LogRecord[];
}

export interface LatencySnapshot {
  /** Calls per bucket, not cumulative: `counts[i]` ≤ `buckets[i]` ms; the last is above the last bound. */
  counts: number[];
  /** Total of all durations, in ms. */
  sum: number;
  count: number;
  /** Longest call seen, in ms. */
  max: number;
  /** Estimates from the buckets (linear within a bucket), in ms. */
  p50: number;
  p95: number;
  p99: number;
}

export interface EndpointStats {
  /** `Handler.Method`. */
  name: string;
  /** Calls started. */
  requests: number;
  /** Calls that ended with an error. */
  errors: number;
  inflight: number;
  /** Finished calls by outcome: "ok" or the MicroError code ("400", "404", "500", ...). */
  status: Record<string, number>;
  /** Unary calls only: a stream's lifetime is not a latency. */
  latency: LatencySnapshot;
}

export interface StatsSnapshot {
  service: string;
  version: string;
  /** The node id. */
  id: string;
  /** When the stats began (the service's construction), ms since the epoch. */
  started: number;
  /** Seconds since `started`. */
  uptime: number;
  /** Bytes, from process.memoryUsage(). */
  memory: { rss: number; heapUsed: number; heapTotal: number; external: number };
  /** Event-loop delay since the service started, in ms (perf_hooks monitorEventLoopDelay). */
  eventLoop: { min: number; max: number; mean: number; p50: number; p99: number };
  requests: number;
  errors: number;
  inflight: number;
  /** Bucket upper bounds in ms, shared by every endpoint's latency. */
  buckets: readonly number[];
  endpoints: EndpointStats[];
}

/** A health check: passes when it resolves to anything but `false`; fails when it throws, returns false or times out. */
export type HealthCheck = () => unknown;

export interface CheckResult {
  status: "ok" | "failing";
  /** Why it failed. */
  error?: string;
  /** How long it took, in ms. */
  duration: number;
}

export interface HealthResponse {
  /** "degraded" when any check fails; a service that cannot answer at all is down. */
  status: "ok" | "degraded";
  checks: Record<string, CheckResult>;
}

export const SPAN_KINDS = ["server", "client", "producer", "consumer", "internal"] as const;
export type SpanKind = (typeof SPAN_KINDS)[number];

export interface Span {
  /** 32 hex digits. */
  traceId: string;
  /** 16 hex digits. */
  spanId: string;
  /** The parent span, or undefined for a root. */
  parentId?: string;
  /** `"<service> <endpoint>"`, e.g. "greeter Greeter.Hello"; `"<service> publish <topic>"` for messages. */
  name: string;
  kind: SpanKind;
  /** The service that recorded the span. */
  service: string;
  /** Start, in ms since the epoch (sub-millisecond precision). */
  start: number;
  /** In ms. */
  duration: number;
  status: "ok" | "error";
  attributes: Record<string, string | number | boolean>;
}

export interface TraceRequest {
  /** Only the spans of this trace. */
  traceId?: string;
  /** The most recent `count` spans (after filtering). @default all in the buffer */
  count?: number;
}

export interface TraceResponse {
  spans: Span[];
}

export interface DebugOptions {
  /** Named health checks run by Debug.Health. */
  checks?: Record<string, HealthCheck>;
  /** How long one health check may take, in ms. @default 2000 */
  checkTimeout?: number;
  /** Spans kept in the per-service ring buffer. @default 1000 */
  traceBufferSize?: number;
  /** Record spans and propagate traceparent. @default true */
  trace?: boolean;
  /**
   * The share of calls arriving (or made) without a trace that start a new one, 0..1. Calls
   * that carry a traceparent (from the gateway, the CLI, or a traced caller) are always
   * traced. @default MICRO_TRACE_SAMPLE, else 0: tracing costs nothing until someone asks.
   */
  sample?: number;
  /** Called with every finished span: an exporter hook (e.g. `otelExporter(...).onSpan` from `@micro-ts/otel`). */
  onSpan?: (s: Span) => void;
  /** Collect per-endpoint stats. @default true */
  stats?: boolean;
  /**
   * Serve Prometheus text on `http://ADDRESS/metrics`, e.g. "127.0.0.1:0" (MICRO_METRICS_ADDRESS).
   * The bound address goes into the node's metadata as `metrics`. @default off
   */
  metrics?: string;
}
