/**
 * The debug kit a Service installs: the Debug handler, the stats and trace middlewares, the
 * tracing broker wrapper and the opt-in metrics listener.
 */
import type { Broker } from "../broker/broker.js";
import type { Client } from "../client/client.js";
import type { Logger } from "../logger/logger.js";
import type { Server } from "../server/server.js";
import { DEBUG_HANDLER, type DebugOptions, type HealthCheck, type HealthResponse, type Span, type StatsSnapshot, type TraceRequest } from "./debug.js";
import { DebugHandler, type DebugSource } from "./handler.js";
import { runChecks } from "./health.js";
import { listenMetrics, type MetricsListener } from "./metrics.js";
import { prometheusText } from "./prometheus.js";
import { debugServerObserver } from "./middleware.js";
import { Stats } from "./stats.js";
import { traceClientObserver, Tracer, TracingBroker } from "./trace.js";

export interface ServiceDebugOptions extends DebugOptions {
  service: string;
  version?: string;
  /** The node id. */
  id?: string;
  logger: Logger;
}

export class ServiceDebug implements DebugSource {
  readonly service: string;
  readonly logger: Logger;
  readonly collector: Stats;
  readonly tracer: Tracer;
  private readonly o: ServiceDebugOptions;
  private readonly checks = new Map<string, HealthCheck>();
  private readonly closer = new AbortController();
  private metrics: MetricsListener | undefined;

  constructor(o: ServiceDebugOptions) {
    this.o = { ...o };
    this.service = o.service;
    this.logger = o.logger;
    this.collector = new Stats({ service: o.service, ...(o.version ? { version: o.version } : {}), ...(o.id ? { id: o.id } : {}) });
    this.tracer = new Tracer({
      service: o.service,
      ...(o.traceBufferSize !== undefined ? { size: o.traceBufferSize } : {}),
      ...(o.onSpan ? { onSpan: o.onSpan } : {}),
    });
    for (const [name, fn] of Object.entries(o.checks ?? {})) this.check(name, fn);
  }

  get closing(): AbortSignal {
    return this.closer.signal;
  }

  /** The metrics listener's `host:port`, once started with `metrics` set. */
  get metricsAddress(): string | undefined {
    return this.metrics?.address;
  }

  /** Adds (or replaces) a named health check. */
  check(name: string, fn: HealthCheck): this {
    if (typeof fn !== "function") throw new TypeError(`health check ${name} must be a function`);
    this.checks.set(name, fn);
    return this;
  }

  /** Wraps the broker so publishes and deliveries are traced (unless tracing is off). */
  wrapBroker(b: Broker): Broker {
    return this.o.trace === false ? b : new TracingBroker(b, this.tracer);
  }

  /** Adds the Debug handler and the middlewares; call before other middleware so they see every call. */
  install(server: Server, client: Client): void {
    server.handle(new DebugHandler(this), { name: DEBUG_HANDLER });
    const stats = this.o.stats !== false ? this.collector : undefined;
    const tracer = this.o.trace !== false ? this.tracer : undefined;
    const sample = this.o.sample ?? sampleFromEnv();
    if (stats || tracer) server.observe(debugServerObserver(stats, tracer, sample));
    if (tracer) client.observe(traceClientObserver(tracer, sample));
  }

  /** Starts the event-loop monitor and, if asked, the metrics listener. */
  async start(): Promise<void> {
    this.collector.start();
    const addr = this.o.metrics ?? process.env["MICRO_METRICS_ADDRESS"];
    if (addr && !this.metrics) this.metrics = await listenMetrics(addr, () => prometheusText(this.stats()));
  }

  /** Ends log followers and closes the metrics listener. */
  async stop(): Promise<void> {
    this.closer.abort();
    this.collector.stop();
    const m = this.metrics;
    this.metrics = undefined;
    await m?.close();
  }

  stats(): StatsSnapshot {
    return this.collector.snapshot();
  }

  health(): Promise<HealthResponse> {
    return runChecks(this.checks, this.o.checkTimeout ?? 2000);
  }

  spans(o: TraceRequest): Span[] {
    return this.tracer.spans(o);
  }
}

/** MICRO_TRACE_SAMPLE: 0..1, default 0 (only calls that carry a traceparent are traced). */
function sampleFromEnv(): number {
  const v = Number(process.env["MICRO_TRACE_SAMPLE"] ?? 0);
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
}
