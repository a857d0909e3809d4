/**
 * Prometheus text exposition (format 0.0.4) of stats snapshots: what `/metrics` serves on a
 * service's metrics listener and on the gateway.
 */
import type { StatsSnapshot } from "./debug.js";

/** The Content-Type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function labels(l: Record<string, string>): string {
  const parts: string[] = [];
  for (const k in l) parts.push(`${k}="${escapeLabel(l[k]!)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
}

class Family {
  readonly lines: string[] = [];
  constructor(
    readonly name: string,
    readonly type: "counter" | "gauge" | "histogram",
    readonly help: string,
  ) {}
  add(l: Record<string, string>, v: number, suffix = ""): void {
    this.lines.push(`${this.name}${suffix}${labels(l)} ${num(v)}`);
  }
  text(): string {
    return `# HELP ${this.name} ${this.help}\n# TYPE ${this.name} ${this.type}\n${this.lines.join("\n")}\n`;
  }
}

/**
 * The exposition text of one or more services' stats, one family per metric (series of
 * every snapshot grouped under it). Give one snapshot per service: two snapshots of the
 * same service would produce duplicate series.
 *
 *   micro_requests_total{service,endpoint,status}            counter: finished calls; status "ok" or the error code
 *   micro_request_duration_seconds{service,endpoint}         histogram of unary call latency (_bucket{le}, _sum, _count)
 *   micro_requests_in_flight{service}                        gauge
 *   micro_uptime_seconds{service}                            gauge
 *   micro_process_resident_memory_bytes{service}             gauge
 *   micro_process_heap_used_bytes{service}                   gauge
 *   micro_event_loop_lag_p99_seconds{service}                gauge
 */
export function prometheusText(stats: StatsSnapshot | readonly StatsSnapshot[]): string {
  const list: readonly StatsSnapshot[] = Array.isArray(stats) ? stats : [stats as StatsSnapshot];
  const requests = new Family("micro_requests_total", "counter", "Finished calls by endpoint and status (ok or the error code).");
  const duration = new Family("micro_request_duration_seconds", "histogram", "Latency of unary calls.");
  const inflight = new Family("micro_requests_in_flight", "gauge", "Calls being handled now.");
  const uptime = new Family("micro_uptime_seconds", "gauge", "Seconds since the service started.");
  const rss = new Family("micro_process_resident_memory_bytes", "gauge", "Resident set size of the process.");
  const heap = new Family("micro_process_heap_used_bytes", "gauge", "V8 heap in use.");
  const lag = new Family("micro_event_loop_lag_p99_seconds", "gauge", "99th percentile of event-loop delay since start.");
  for (const s of list) {
    const svc = { service: s.service };
    for (const e of s.endpoints) {
      for (const status in e.status) requests.add({ service: s.service, endpoint: e.name, status }, e.status[status]!);
      let cum = 0;
      for (let i = 0; i < e.latency.counts.length; i++) {
        cum += e.latency.counts[i]!;
        const le = i < s.buckets.length ? num(s.buckets[i]! / 1000) : "+Inf";
        duration.add({ service: s.service, endpoint: e.name, le }, cum, "_bucket");
      }
      duration.add({ service: s.service, endpoint: e.name }, e.latency.sum / 1000, "_sum");
      duration.add({ service: s.service, endpoint: e.name }, e.latency.count, "_count");
    }
    inflight.add(svc, s.inflight);
    uptime.add(svc, s.uptime);
    rss.add(svc, s.memory.rss);
    heap.add(svc, s.memory.heapUsed);
    lag.add(svc, s.eventLoop.p99 / 1000);
  }
  return [requests, duration, inflight, uptime, rss, heap, lag]
    .filter((f) => f.lines.length > 0)
    .map((f) => f.text())
    .join("");
}
