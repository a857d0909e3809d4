// Debug across services: three services in one process on the tcp transport with a memory
// registry; a trace set by the caller reaches the service two hops away, and every service's
// Debug.Trace returns spans that form one tree. Debug.Log, Debug.Logs, Debug.Stats,
// Debug.Health and the metrics listener answer.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import {
  createLogger,
  errors,
  formatTraceparent,
  memoryBroker,
  memoryRegistry,
  parseTraceparent,
  Service,
  tcpTransport,
  type Context,
  type HealthResponse,
  type LogRecord,
  type LogResponse,
  type Span,
  type StatsSnapshot,
  type TraceResponse,
} from "@micro-ts/micro";

const parsePrometheus = createRequire(import.meta.url)("parse-prometheus-text-format") as (
  text: string,
) => { name: string; metrics: { value?: string; labels?: Record<string, string> }[] }[];

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

describe("debug across three services", () => {
  const registry = memoryRegistry();
  const transport = tcpTransport();
  const broker = memoryBroker();
  const make = (name: string, debug?: ConstructorParameters<typeof Service>[0]["debug"]) =>
    new Service({ name, registry, transport, broker, logger: createLogger({ level: "silent", fields: { service: name } }), ...(debug !== undefined ? { debug } : {}) });

  const alpha = make("alpha");
  const beta = make("beta", { checks: { db: () => false, cache: async () => true } });
  const gamma = make("gamma", { metrics: "127.0.0.1:0" });
  let audited!: (md: Record<string, string>) => void;
  const audit = new Promise<Record<string, string>>((resolve) => (audited = resolve));

  alpha.handle(
    {
      async top(req: { n: number }) {
        alpha.logger.info("top called", { n: req.n });
        await alpha.publish("audit", { n: req.n });
        return alpha.client.call("beta", "Beta.Mid", req);
      },
    },
    { name: "Alpha" },
  );
  beta.handle(
    {
      async mid(req: { n: number }) {
        return beta.client.call("gamma", "Gamma.Leaf", req);
      },
    },
    { name: "Beta" },
  );
  gamma.handle(
    {
      async leaf(_req: unknown, ctx: Context) {
        return { traceparent: ctx.metadata["traceparent"] };
      },
      async fail() {
        throw errors.badRequest("gamma", "no");
      },
    },
    { name: "Gamma" },
  );
  gamma.subscribe("audit", (_payload, info) => audited(info.metadata));

  before(async () => {
    await Promise.all([alpha.start(), beta.start(), gamma.start()]);
  });
  after(async () => {
    await Promise.all([alpha.stop(), beta.stop(), gamma.stop()]);
    await broker.close();
    await registry.close();
  });

  const spansOf = async (svc: string, traceId: string) =>
    (await alpha.client.call<TraceResponse>(svc, "Debug.Trace", { traceId })).spans;

  it("carries the caller's trace id two hops away and records one tree of spans", async () => {
    const rsp = await alpha.client.call<{ traceparent: string }>("alpha", "Alpha.Top", { n: 1 }, { metadata: { traceparent: formatTraceparent(TRACE, CALLER_SPAN) } });
    const atGamma = parseTraceparent(rsp.traceparent);
    assert.equal(atGamma?.traceId, TRACE, "gamma saw the caller's trace id");

    const byService: Record<string, Span[]> = {};
    for (const s of ["alpha", "beta", "gamma"]) byService[s] = (await spansOf(s, TRACE)).filter((x) => x.kind === "server" || x.kind === "client");
    const spans = Object.values(byService).flat();
    assert.ok(spans.every((s) => s.traceId === TRACE));
    const servers = spans.filter((s) => s.kind === "server");
    const clients = spans.filter((s) => s.kind === "client");
    assert.deepEqual(servers.map((s) => s.name).sort(), ["alpha Alpha.Top", "beta Beta.Mid", "gamma Gamma.Leaf"]);
    assert.deepEqual(clients.map((s) => s.name).sort(), ["alpha Alpha.Top", "beta Beta.Mid", "gamma Gamma.Leaf"]);
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, "span ids are unique");

    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const server = (name: string) => servers.find((s) => s.name === name)!;
    const client = (name: string) => clients.find((s) => s.name === name)!;
    // caller → [alpha client] → alpha server → [beta client] → beta server → [gamma client] → gamma server
    assert.equal(client("alpha Alpha.Top").parentId, CALLER_SPAN);
    assert.equal(server("alpha Alpha.Top").parentId, client("alpha Alpha.Top").spanId);
    assert.equal(client("beta Beta.Mid").parentId, server("alpha Alpha.Top").spanId);
    assert.equal(server("beta Beta.Mid").parentId, client("beta Beta.Mid").spanId);
    assert.equal(client("gamma Gamma.Leaf").parentId, server("beta Beta.Mid").spanId);
    assert.equal(server("gamma Gamma.Leaf").parentId, client("gamma Gamma.Leaf").spanId);
    // Every span but the root links to a recorded span: one tree.
    assert.equal(spans.filter((s) => !byId.has(s.parentId ?? "")).length, 1);
    // Gamma's handler saw its own server span as the current traceparent.
    assert.equal(atGamma?.spanId, server("gamma Gamma.Leaf").spanId);
    // Each service recorded the spans of its side.
    const names = (svc: string) => byService[svc]!.map((s) => `${s.kind} ${s.name}`).sort();
    assert.deepEqual(names("alpha"), ["client alpha Alpha.Top", "client beta Beta.Mid", "server alpha Alpha.Top"]);
    assert.deepEqual(names("beta"), ["client gamma Gamma.Leaf", "server beta Beta.Mid"]);
    assert.deepEqual(names("gamma"), ["server gamma Gamma.Leaf"]);
    assert.ok(byService["beta"]!.every((s) => s.service === "beta"));
    // Children start within and end within their parents (same clock, same process).
    const gs = server("gamma Gamma.Leaf");
    const gc = client("gamma Gamma.Leaf");
    assert.ok(gs.start >= gc.start && gs.start + gs.duration <= gc.start + gc.duration + 1);
  });

  it("carries the trace through the broker: producer and consumer spans", async () => {
    const md = await audit;
    assert.equal(parseTraceparent(md["traceparent"])?.traceId, TRACE);
    let consumer: Span | undefined;
    // The consumer span is recorded just after the handler returns.
    for (let i = 0; i < 50 && !consumer; i++) {
      consumer = (await spansOf("gamma", TRACE)).find((s) => s.kind === "consumer");
      if (!consumer) await new Promise((r) => setImmediate(r));
    }
    const producer = (await spansOf("alpha", TRACE)).find((s) => s.kind === "producer");
    const alphaServer = (await spansOf("alpha", TRACE)).find((s) => s.kind === "server");
    assert.ok(consumer && producer && alphaServer);
    assert.equal(producer.name, "alpha publish audit");
    assert.equal(producer.parentId, alphaServer.spanId);
    assert.equal(consumer.parentId, producer.spanId);
    assert.equal(parseTraceparent(md["traceparent"])?.spanId, consumer.spanId);
  });

  it("traces nothing unasked (sample 0) and starts a fresh trace for a malformed traceparent", async () => {
    const a = await alpha.client.call<{ traceparent?: string }>("gamma", "Gamma.Leaf", {});
    assert.equal(a.traceparent, undefined, "an untraced call carries no traceparent by default");
    const b = await alpha.client.call<{ traceparent: string }>("gamma", "Gamma.Leaf", {}, { metadata: { traceparent: "00-nonsense" } });
    const tb = parseTraceparent(b.traceparent)!;
    assert.ok(tb);
    const spans = await spansOf("gamma", tb.traceId);
    assert.equal(spans.length, 1);
    assert.equal(spans[0]!.parentId, (await spansOf("alpha", tb.traceId)).find((s) => s.kind === "client")!.spanId);
  });

  it("counts requests and errors per endpoint in Debug.Stats", async () => {
    const before = await alpha.client.call<StatsSnapshot>("gamma", "Debug.Stats", {});
    for (let i = 0; i < 3; i++) await alpha.client.call("gamma", "Gamma.Leaf", {});
    for (let i = 0; i < 2; i++) await assert.rejects(alpha.client.call("gamma", "Gamma.Fail", {}), (e: unknown) => (e as { code?: number }).code === 400);
    const s = await alpha.client.call<StatsSnapshot>("gamma", "Debug.Stats", {});
    const leaf = (x: StatsSnapshot) => x.endpoints.find((e) => e.name === "Gamma.Leaf")!;
    assert.equal(leaf(s).requests - leaf(before).requests, 3);
    assert.equal(leaf(s).latency.count - leaf(before).latency.count, 3);
    const fail = s.endpoints.find((e) => e.name === "Gamma.Fail")!;
    assert.equal(fail.requests, 2);
    assert.equal(fail.errors, 2);
    assert.equal(fail.status["400"], 2);
    assert.equal(s.errors - before.errors, 2);
    assert.equal(s.inflight, 0);
    assert.equal(s.service, "gamma");
    assert.ok(s.uptime > 0 && s.memory.rss > 0);
    assert.deepEqual(s.buckets, [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000]);
    assert.equal(s.endpoints.some((e) => e.name.startsWith("Debug.")), false, "debug calls are not counted");
  });

  it("answers Debug.Health with its checks", async () => {
    assert.deepEqual(await alpha.client.call<HealthResponse>("alpha", "Debug.Health", {}), { status: "ok", checks: {} });
    const h = await alpha.client.call<HealthResponse>("beta", "Debug.Health", {});
    assert.equal(h.status, "degraded");
    assert.equal(h.checks["db"]?.status, "failing");
    assert.equal(h.checks["cache"]?.status, "ok");
  });

  it("answers Debug.Log from the logger's buffer and follows with Debug.Logs", async () => {
    const log = await alpha.client.call<LogResponse>("alpha", "Debug.Log", { count: 50 });
    assert.ok(log.records.some((r) => r.msg === "service started"));
    assert.ok(log.records.some((r) => r.msg === "top called" && r.fields["n"] === 1));
    const last = await alpha.client.call<LogResponse>("alpha", "Debug.Log", { count: 1 });
    assert.equal(last.records.length, 1);
    await assert.rejects(alpha.client.call("alpha", "Debug.Log", { stream: true }), (e: unknown) => (e as { code?: number }).code === 400);
    await assert.rejects(alpha.client.call("alpha", "Debug.Log", { count: "x" }), (e: unknown) => (e as { code?: number }).code === 400);

    // count: 1 replays the marker; once it arrives the follower is attached.
    alpha.logger.info("marker");
    const stream = beta.client.stream<LogRecord>("alpha", "Debug.Logs", { count: 1 });
    const got: string[] = [];
    for await (const r of stream) {
      got.push(r.msg);
      if (r.msg === "marker") {
        alpha.logger.debug("first");
        alpha.logger.warn("second", { err: new Error("shown as name and message") });
      }
      if (r.msg === "second") {
        assert.deepEqual(r.fields["err"], { name: "Error", message: "shown as name and message" });
        break;
      }
    }
    assert.deepEqual(got, ["marker", "first", "second"]);
    const warns = await alpha.client.call<LogResponse>("alpha", "Debug.Log", { level: "warn" });
    assert.ok(warns.records.length > 0 && warns.records.every((r) => r.level === "warn" || r.level === "error"));
  });

  it("serves Prometheus text on the metrics listener named in the node metadata", async () => {
    const [rec] = await registry.getService("gamma");
    const addr = rec?.nodes[0]?.metadata?.["metrics"];
    assert.ok(addr, "metrics address in node metadata");
    assert.equal(rec!.endpoints!.some((e) => e.name.startsWith("Debug.")), false, "Debug.* stays out of the record");
    const res = await fetch(`http://${addr}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
    const fams = parsePrometheus(await res.text());
    const total = fams.find((f) => f.name === "micro_requests_total")!;
    const fail = total.metrics.find((m) => m.labels?.["endpoint"] === "Gamma.Fail" && m.labels?.["status"] === "400");
    assert.equal(fail?.value, "2");
    assert.equal((await fetch(`http://${addr}/other`)).status, 404);
  });
});
