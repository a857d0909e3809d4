/**
 * Request stats: counters and fixed-bucket latency histograms per endpoint, collected by a
 * server middleware that does a map lookup and a few counter updates per call.
 */
import { monitorEventLoopDelay, performance, type IntervalHistogram } from "node:perf_hooks";
import { MicroError } from "../errors/errors.js";
import type { ServerMiddleware } from "../server/server.js";
import type { EndpointStats, LatencySnapshot, StatsSnapshot } from "./debug.js";
import { isDebugEndpoint, onIterableEnd } from "./trace.js";

/** Latency bucket upper bounds, in ms. */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]);

/** A fixed-bucket histogram: counts per bucket plus one above the last bound. */
export class Histogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  max = 0;

  constructor(readonly bounds: readonly number[] = LATENCY_BUCKETS) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]!++;
    this.sum += v;
    this.count++;
    if (v > this.max) this.max = v;
  }

  /**
   * The q-quantile (0..1), interpolated linearly inside its bucket; the bucket above the last
   * bound ends at the largest value seen. 0 when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.min(Math.max(q, 0), 1) * this.count;
    let cum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i]!;
      if (c === 0) continue;
      if (cum + c >= rank) {
        const lo = i === 0 ? 0 : this.bounds[i - 1]!;
        const hi = i < this.bounds.length ? this.bounds[i]! : Math.max(this.max, lo);
        return Math.min(lo + (hi - lo) * ((rank - cum) / c), this.max);
      }
      cum += c;
    }
    return this.max;
  }

  snapshot(): LatencySnapshot {
    return {
      counts: Array.from(this.counts),
      sum: this.sum,
      count: this.count,
      max: this.max,
      p50: this.quantile(0.5),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }
}

class EndpointCounters {
  requests = 0;
  errors = 0;
  inflight = 0;
  ok = 0;
  /** Error codes, created on the first error. */
  codes: Map<number, number> | undefined;
  readonly latency: Histogram;
  constructor(
    readonly name: string,
    bounds: readonly number[],
  ) {
    this.latency = new Histogram(bounds);
  }
  fail(code: number): void {
    this.errors++;
    this.codes ??= new Map();
    this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
  }
  snapshot(): EndpointStats {
    const status: Record<string, number> = { ok: this.ok };
    if (this.codes) for (const [code, n] of this.codes) status[String(code)] = n;
    return { name: this.name, requests: this.requests, errors: this.errors, inflight: this.inflight, status, latency: this.latency.snapshot() };
  }
}

export interface StatsOptions {
  service: string;
  version?: string;
  id?: string;
  /** Latency bucket bounds in ms. @default LATENCY_BUCKETS */
  buckets?: readonly number[];
}

/** A service's request counters and runtime gauges. start()/stop() run the event-loop monitor. */
export class Stats {
  readonly started = Date.now();
  readonly buckets: readonly number[];
  requests = 0;
  errors = 0;
  inflight = 0;
  private readonly endpoints = new Map<string, EndpointCounters>();
  private loop: IntervalHistogram | undefined;

  constructor(private readonly o: StatsOptions) {
    this.buckets = o.buckets ?? LATENCY_BUCKETS;
  }

  /** Starts sampling event-loop delay. Idempotent. */
  start(): void {
    if (this.loop) return;
    this.loop = monitorEventLoopDelay({ resolution: 20 });
    this.loop.enable();
  }

  stop(): void {
    this.loop?.disable();
  }

  /** The counters of an endpoint, created on its first call. */
  endpoint(name: string): EndpointCounters {
    let e = this.endpoints.get(name);
    if (!e) this.endpoints.set(name, (e = new EndpointCounters(name, this.buckets)));
    return e;
  }

  /** Counts a call that was started: pair with done(). */
  begin(e: EndpointCounters): void {
    e.requests++;
    e.inflight++;
    this.requests++;
    this.inflight++;
  }

  /** Counts a finished call; `ms` is recorded in the latency histogram unless undefined (streams). */
  done(e: EndpointCounters, ms: number | undefined, err?: unknown): void {
    e.inflight--;
    this.inflight--;
    if (err === undefined) e.ok++;
    else {
      this.errors++;
      e.fail(err instanceof MicroError ? err.code : 500);
    }
    if (ms !== undefined) e.latency.observe(ms);
  }

  snapshot(): StatsSnapshot {
    const now = Date.now();
    const m = process.memoryUsage();
    const l = this.loop;
    const ns = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? 0 : v / 1e6);
    const loopCount = l ? l.count : 0;
    return {
      service: this.o.service,
      version: this.o.version ?? "latest",
      id: this.o.id ?? this.o.service,
      started: this.started,
      uptime: (now - this.started) / 1000,
      memory: { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external },
      eventLoop:
        l && loopCount > 0
          ? { min: ns(l.min), max: ns(l.max), mean: ns(l.mean), p50: ns(l.percentile(50)), p99: ns(l.percentile(99)) }
          : { min: 0, max: 0, mean: 0, p50: 0, p99: 0 },
      requests: this.requests,
      errors: this.errors,
      inflight: this.inflight,
      buckets: this.buckets,
      endpoints: [...this.endpoints.values()].map((e) => e.snapshot()),
    };
  }
}

/**
 * A ServerMiddleware that counts calls, errors and in-flight calls per endpoint and times
 * unary calls into the latency histogram. A stream counts as in flight until it ends.
 */
export function statsMiddleware(stats: Stats): ServerMiddleware {
  return async (req, next) => {
    if (isDebugEndpoint(req.endpoint)) return next();
    const e = stats.endpoint(req.endpoint);
    stats.begin(e);
    const t0 = performance.now();
    let result: unknown;
    try {
      result = await next();
    } catch (err) {
      stats.done(e, req.stream ? undefined : performance.now() - t0, err);
      throw err;
    }
    if (!req.stream) {
      stats.done(e, performance.now() - t0);
      return result;
    }
    if (!result || typeof result !== "object") {
      stats.done(e, undefined);
      return result;
    }
    return onIterableEnd(result as AsyncIterable<unknown>, (err) => stats.done(e, undefined, err));
  };
}

