/** The `Debug` handler every service answers: Log, Logs, Stats, Health, Trace. */
import type { Context } from "../context/context.js";
import { badRequest } from "../errors/errors.js";
import { LEVELS, type Logger, type LogRecord } from "../logger/logger.js";
import type { HealthResponse, LogRequest, LogResponse, StatsSnapshot, TraceRequest, TraceResponse } from "./debug.js";

/** What the handler reads; ServiceDebug provides it. */
export interface DebugSource {
  readonly service: string;
  readonly logger: Logger;
  /** Aborted when the service stops, ending followers so they do not hold up the drain. */
  readonly closing: AbortSignal;
  stats(): StatsSnapshot;
  health(): Promise<HealthResponse>;
  spans(o: TraceRequest): TraceResponse["spans"];
}

function optNumber(v: unknown, name: string, service: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw badRequest(service, `${name} must be a non-negative number`);
  return v;
}

function parseLogRequest(req: unknown, service: string): LogRequest {
  const r = (req ?? {}) as Record<string, unknown>;
  if (typeof r !== "object" || Array.isArray(r)) throw badRequest(service, "Debug.Log wants an object");
  const out: LogRequest = {};
  const count = optNumber(r["count"], "count", service);
  const since = optNumber(r["since"], "since", service);
  if (count !== undefined) out.count = Math.floor(count);
  if (since !== undefined) out.since = since;
  if (r["level"] !== undefined) {
    const l = r["level"];
    if (typeof l !== "string" || !(l in LEVELS) || l === "silent") throw badRequest(service, `level must be one of trace, debug, info, warn, error`);
    out.level = l as LogRequest["level"];
  }
  if (r["stream"] !== undefined) out.stream = r["stream"] === true;
  return out;
}

/** A record as it goes on the wire: Errors in fields become { name, message }. */
function wire(r: LogRecord): LogRecord {
  let fields = r.fields;
  for (const k in fields) {
    const v = fields[k];
    if (v instanceof Error) {
      if (fields === r.fields) fields = { ...fields };
      fields[k] = { name: v.name, message: v.message };
    }
  }
  return fields === r.fields ? r : { ...r, fields };
}

function buffered(logger: Logger, o: LogRequest): LogRecord[] {
  const min = o.level ? LEVELS[o.level] : 0;
  let list = logger.records(o.since !== undefined ? { since: o.since } : {});
  if (min > 0) list = list.filter((r) => LEVELS[r.level] >= min);
  if (o.count !== undefined) list = o.count === 0 ? [] : list.slice(-o.count);
  return list.map(wire);
}

export class DebugHandler {
  constructor(private readonly src: DebugSource) {}

  /** The buffered log records, oldest first. */
  async log(req: LogRequest): Promise<LogResponse> {
    const o = parseLogRequest(req, this.src.service);
    if (o.stream) throw badRequest(this.src.service, "Debug.Log does not stream: call Debug.Logs to follow");
    return { records: buffered(this.src.logger, o) };
  }

  /** The buffered records, then (unless `stream: false`) every new one until cancelled or the service stops. */
  async *logs(req: LogRequest, ctx: Context): AsyncGenerator<LogRecord> {
    const o = parseLogRequest(req, this.src.service);
    const min = o.level ? LEVELS[o.level] : 0;
    const queue: LogRecord[] = [];
    let wake: (() => void) | undefined;
    const unfollow =
      o.stream === false
        ? undefined
        : this.src.logger.follow((r) => {
            if (LEVELS[r.level] < min) return;
            queue.push(r);
            wake?.();
          });
    const stop = () => wake?.();
    const signals = [ctx.signal, this.src.closing];
    for (const s of signals) s.addEventListener("abort", stop);
    try {
      // Read in the same tick as follow(): a record is either buffered here or queued, never both.
      for (const r of buffered(this.src.logger, o)) yield r;
      if (!unfollow) return;
      for (;;) {
        if (signals.some((s) => s.aborted)) return;
        const r = queue.shift();
        if (r) {
          yield wire(r);
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    } finally {
      unfollow?.();
      for (const s of signals) s.removeEventListener("abort", stop);
    }
  }

  /** Uptime, memory, event-loop lag and per-endpoint request stats. */
  async stats(): Promise<StatsSnapshot> {
    return this.src.stats();
  }

  /** The health checks' results: "ok", or "degraded" with the failing checks. */
  async health(): Promise<HealthResponse> {
    return this.src.health();
  }

  /** Recorded spans, oldest first; `traceId` picks one trace. */
  async trace(req: TraceRequest): Promise<TraceResponse> {
    const r = (req ?? {}) as Record<string, unknown>;
    const o: TraceRequest = {};
    if (r["traceId"] !== undefined && r["traceId"] !== "") {
      if (typeof r["traceId"] !== "string") throw badRequest(this.src.service, "traceId must be a string");
      o.traceId = r["traceId"].toLowerCase();
    }
    const count = optNumber(r["count"], "count", this.src.service);
    if (count !== undefined) o.count = Math.floor(count);
    return { spans: this.src.spans(o) };
  }
}
