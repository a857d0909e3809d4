import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { memoryRegistry, memoryTransport, Service, silentLogger, Tracer, type Span } from "@micro-ts/micro";
import { msToHrTime, otelExporter } from "./index.js";

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  status?: { code?: number; message?: string };
  attributes?: { key: string; value: Record<string, unknown> }[];
}
interface Received {
  service: string | undefined;
  span: OtlpSpan;
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

describe("otelExporter", () => {
  let server: Server;
  let url: string;
  const received: Received[] = [];
  const contentTypes: string[] = [];
  const headers: (string | undefined)[] = [];

  before(async () => {
    server = createServer((req, res) => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(String(req.headers["content-type"]));
      headers.push(req.headers["x-test"] as string | undefined);
      void body(req).then((text) => {
        const msg = JSON.parse(text) as {
          resourceSpans: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: OtlpSpan[] }[] }[];
        };
        for (const rs of msg.resourceSpans) {
          const service = rs.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue;
          for (const ss of rs.scopeSpans) for (const span of ss.spans) received.push({ service, span });
        }
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  it("exports a parent and a child span over OTLP/HTTP JSON", async () => {
    const otel = otelExporter({ url, headers: { "x-test": "yes" }, scheduledDelayMillis: 60_000 });
    const traceId = "0af7651916cd43dd8448eb211c80319c";
    const now = Date.now() + 0.25;
    const parent: Span = {
      traceId,
      spanId: "b7ad6b7169203331",
      name: "gateway Greeter.Hello",
      kind: "client",
      service: "gateway",
      start: now,
      duration: 12.5,
      status: "ok",
      attributes: { "rpc.method": "Hello", retries: 0 },
    };
    const child: Span = {
      traceId,
      spanId: "00f067aa0ba902b7",
      parentId: parent.spanId,
      name: "greeter Greeter.Hello",
      kind: "server",
      service: "greeter",
      start: now + 1,
      duration: 10,
      status: "error",
      attributes: { "error.code": 500, "error.message": "boom" },
    };
    otel.onSpan(child);
    otel.onSpan(parent);
    await otel.flush();
    await otel.shutdown();

    assert.equal(received.length, 2);
    assert.ok(contentTypes.every((c) => c.startsWith("application/json")), contentTypes.join());
    assert.deepEqual(headers, headers.map(() => "yes"));
    const byId = new Map(received.map((r) => [r.span.spanId, r]));
    const p = byId.get(parent.spanId);
    const c = byId.get(child.spanId);
    assert.ok(p && c);
    assert.equal(p.span.traceId, traceId);
    assert.equal(c.span.traceId, traceId);
    assert.ok(!p.span.parentSpanId);
    assert.equal(c.span.parentSpanId, parent.spanId);
    assert.equal(p.span.name, "gateway Greeter.Hello");
    assert.equal(c.span.name, "greeter Greeter.Hello");
    // OTLP SpanKind: 2 SERVER, 3 CLIENT; status: 1 OK, 2 ERROR.
    assert.equal(p.span.kind, 3);
    assert.equal(c.span.kind, 2);
    assert.equal(p.service, "gateway");
    assert.equal(c.service, "greeter");
    assert.equal(p.span.status?.code, 1);
    assert.equal(c.span.status?.code, 2);
    assert.equal(c.span.status?.message, "boom");
    const start = BigInt(p.span.startTimeUnixNano);
    const end = BigInt(p.span.endTimeUnixNano);
    assert.equal(end - start, 12_500_000n);
    assert.equal(start / 1_000_000n, BigInt(Math.floor(now)));
    const method = p.span.attributes?.find((a) => a.key === "rpc.method");
    assert.deepEqual(method?.value, { stringValue: "Hello" });
  });

  it("wires into a Tracer and honours serviceName", async () => {
    received.length = 0;
    const otel = otelExporter({ url, serviceName: "override", scheduledDelayMillis: 60_000 });
    const tracer = new Tracer({ service: "svc", onSpan: otel.onSpan });
    const root = tracer.startSpan({ name: "svc A.B", kind: "server" });
    const sub = tracer.startSpan({ name: "svc call C.D", kind: "client", parent: root.traceparent });
    sub.end();
    root.end(new Error("bad"));
    await otel.shutdown();
    otel.onSpan(tracer.spans()[0]!); // after shutdown: dropped, no throw
    assert.equal(received.length, 2);
    const r = received.find((x) => x.span.spanId === root.spanId);
    const s = received.find((x) => x.span.spanId === sub.spanId);
    assert.ok(r && s);
    assert.equal(s.span.parentSpanId, root.spanId);
    assert.equal(s.span.traceId, root.traceId);
    assert.equal(r.service, "override");
    assert.equal(r.span.status?.code, 2);
  });

  it("exports a Service's spans through `debug.onSpan`", async () => {
    received.length = 0;
    const otel = otelExporter({ url, scheduledDelayMillis: 60_000 });
    const registry = memoryRegistry();
    const svc = new Service({ name: "otelsvc", registry, transport: memoryTransport(), logger: silentLogger(), debug: { onSpan: otel.onSpan, sample: 1 } });
    svc.handle({ async hello() { return { ok: true }; } }, { name: "Greeter" });
    try {
      await svc.start();
      await svc.client.call("otelsvc", "Greeter.Hello", {});
    } finally {
      await svc.stop();
      await registry.close();
    }
    await otel.shutdown();
    const kinds = received.filter((x) => x.span.name === "otelsvc Greeter.Hello").map((x) => x.span.kind).sort();
    assert.deepEqual(kinds, [2, 3], "the server (2) and client (3) spans of the call");
    assert.ok(received.every((x) => x.service === "otelsvc"));
  });

  it("converts ms to HrTime", () => {
    assert.deepEqual(msToHrTime(1500.25), [1, 500_250_000]);
    assert.deepEqual(msToHrTime(0), [0, 0]);
  });
});
