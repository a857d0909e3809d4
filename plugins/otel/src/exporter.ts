/**
 * OTLP/HTTP export of Micro spans: converts each finished `Span` into an OpenTelemetry
 * `ReadableSpan` and ships them in batches with the official `OTLPTraceExporter`, so traces land
 * in Jaeger, Tempo, Honeycomb or any OTLP collector unchanged.
 */
import { SpanKind as OtelSpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext } from "@opentelemetry/api";
import type { InstrumentationScope } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes, type Resource } from "@opentelemetry/resources";
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace";
import type { Span, SpanKind } from "@micro-ts/micro";

export const DEFAULT_OTLP_URL = "http://127.0.0.1:4318/v1/traces";

export interface OtelExporterOptions {
  /** The OTLP/HTTP traces endpoint. @default "http://127.0.0.1:4318/v1/traces" */
  url?: string;
  /** `service.name` on the resource. @default each span's own `service` */
  serviceName?: string;
  /** Extra request headers, e.g. `{ "x-honeycomb-team": KEY }`. */
  headers?: Record<string, string>;
  /** Most spans per export request. @default 512 */
  maxExportBatchSize?: number;
  /** How long spans wait for a batch to fill, in ms. @default 1000 */
  scheduledDelayMillis?: number;
  /** Spans queued before new ones are dropped. @default 2048 */
  maxQueueSize?: number;
  /** Per-request timeout, in ms. @default 10000 */
  timeoutMillis?: number;
  /** Replace the OTLP exporter (tests, other protocols). @default OTLPTraceExporter over HTTP/JSON */
  exporter?: SpanExporter;
}

export interface OtelExporter {
  /** Pass as `Tracer`'s `onSpan`: queues the span for export. Never throws. */
  onSpan: (span: Span) => void;
  /** Exports everything queued now. */
  flush(): Promise<void>;
  /** Flushes and stops; later spans are dropped. */
  shutdown(): Promise<void>;
}

const KINDS: Record<SpanKind, OtelSpanKind> = {
  server: OtelSpanKind.SERVER,
  client: OtelSpanKind.CLIENT,
  producer: OtelSpanKind.PRODUCER,
  consumer: OtelSpanKind.CONSUMER,
  internal: OtelSpanKind.INTERNAL,
};

const SCOPE: InstrumentationScope = { name: "@micro-ts/otel", version: "0.1.0" };

/** ms since the epoch (fractional) → [seconds, nanoseconds]. */
export function msToHrTime(ms: number): HrTime {
  const s = Math.floor(ms / 1000);
  let ns = Math.round((ms - s * 1000) * 1e6);
  if (ns >= 1e9) return [s + 1, ns - 1e9];
  if (ns < 0) ns = 0;
  return [s, ns];
}

/** One Micro span as an OpenTelemetry ReadableSpan. */
export function toReadableSpan(s: Span, resource: Resource): ReadableSpan {
  const ctx: SpanContext = { traceId: s.traceId, spanId: s.spanId, traceFlags: TraceFlags.SAMPLED, isRemote: false };
  const duration = Math.max(0, s.duration);
  const attributes: Attributes = { ...s.attributes };
  const message = s.attributes["error.message"];
  return {
    name: s.name,
    kind: KINDS[s.kind] ?? OtelSpanKind.INTERNAL,
    spanContext: () => ctx,
    ...(s.parentId ? { parentSpanContext: { traceId: s.traceId, spanId: s.parentId, traceFlags: TraceFlags.SAMPLED, isRemote: true } } : {}),
    startTime: msToHrTime(s.start),
    endTime: msToHrTime(s.start + duration),
    duration: msToHrTime(duration),
    status: s.status === "error" ? { code: SpanStatusCode.ERROR, ...(message !== undefined ? { message: String(message) } : {}) } : { code: SpanStatusCode.OK },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/**
 * An OTLP/HTTP exporter for Micro spans. Wire `onSpan` into a `Tracer`:
 *
 *   const otel = otelExporter({ url: "http://127.0.0.1:4318/v1/traces" });
 *   const tracer = new Tracer({ service: "greeter", onSpan: otel.onSpan });
 */
export function otelExporter(opts: OtelExporterOptions = {}): OtelExporter {
  const exporter =
    opts.exporter ??
    new OTLPTraceExporter({
      url: opts.url ?? DEFAULT_OTLP_URL,
      ...(opts.headers ? { headers: opts.headers } : {}),
      ...(opts.timeoutMillis !== undefined ? { timeoutMillis: opts.timeoutMillis } : {}),
    });
  const processor = new BatchSpanProcessor({
    exporter,
    ...(opts.maxExportBatchSize !== undefined ? { maxExportBatchSize: opts.maxExportBatchSize } : {}),
    scheduledDelayMillis: opts.scheduledDelayMillis ?? 1000,
    ...(opts.maxQueueSize !== undefined ? { maxQueueSize: opts.maxQueueSize } : {}),
  });
  // One resource per service name, so OTLP groups spans by service.
  const resources = new Map<string, Resource>();
  const resourceFor = (service: string): Resource => {
    let r = resources.get(service);
    if (!r) {
      r = resourceFromAttributes({ "service.name": service });
      resources.set(service, r);
    }
    return r;
  };
  let closed = false;
  return {
    onSpan: (span: Span): void => {
      if (closed) return;
      try {
        processor.onEnd(toReadableSpan(span, resourceFor(opts.serviceName ?? span.service)));
      } catch {
        // An exporter must never break the call it observes.
      }
    },
    flush: () => processor.forceFlush(),
    shutdown: async () => {
      closed = true;
      await processor.shutdown();
    },
  };
}
