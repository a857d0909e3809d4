import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ClientRequest } from "../client/client.js";
import { runWithContext } from "../context/context.js";
import { memoryBroker } from "../broker/memory.js";
import { notFound } from "../errors/errors.js";
import type { ServerRequest } from "../server/server.js";
import { runChecks } from "./health.js";
import { onIterableEnd, traceClientMiddleware, traceServerMiddleware, Tracer, TracingBroker } from "./trace.js";
import { formatTraceparent, parseTraceparent } from "./traceparent.js";

const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

function serverReq(metadata: Record<string, string>, stream = false): ServerRequest {
  return { service: "svc", endpoint: "H.M", body: {}, stream, context: { metadata, signal: new AbortController().signal } };
}

describe("tracer", () => {
  it("keeps the most recent spans in a ring and filters by trace", () => {
    const t = new Tracer({ service: "s", size: 3 });
    for (let i = 0; i < 5; i++) t.startSpan({ name: `n${i}`, kind: "internal", parent: i % 2 ? formatTraceparent(TRACE, PARENT) : undefined }).end();
    assert.deepEqual(t.spans().map((s) => s.name), ["n2", "n3", "n4"]);
    assert.deepEqual(t.spans({ traceId: TRACE }).map((s) => s.name), ["n3"]);
    assert.deepEqual(t.spans({ count: 1 }).map((s) => s.name), ["n4"]);
    assert.deepEqual(t.spans({ count: 0 }), []);
  });
  it("records a span once, with the error's code", () => {
    const t = new Tracer({ service: "s" });
    const span = t.startSpan({ name: "x", kind: "server" });
    span.end(notFound("s", "gone"));
    span.end();
    const [s] = t.spans();
    assert.equal(t.spans().length, 1);
    assert.equal(s!.status, "error");
    assert.equal(s!.attributes["error.code"], 404);
    assert.equal(s!.parentId, undefined);
  });
});

describe("trace middlewares", () => {
  it("server: continues the incoming trace and puts its own span in the call's metadata", async () => {
    const t = new Tracer({ service: "svc" });
    const md: Record<string, string> = { traceparent: formatTraceparent(TRACE, PARENT, 0) };
    let seen: string | undefined;
    await traceServerMiddleware(t)(serverReq(md), async () => (seen = md["traceparent"]));
    const [s] = t.spans();
    assert.equal(s!.traceId, TRACE);
    assert.equal(s!.parentId, PARENT);
    assert.equal(s!.name, "svc H.M");
    assert.equal(seen, formatTraceparent(TRACE, s!.spanId, 0), "flags are kept");
  });
  it("server: ends a stream's span when the stream ends", async () => {
    const t = new Tracer({ service: "svc" });
    const it = (await traceServerMiddleware(t)(serverReq({}, true), async () => [1, 2])) as AsyncIterable<number>;
    assert.equal(t.spans().length, 0);
    const got: number[] = [];
    for await (const x of it) got.push(x);
    assert.deepEqual(got, [1, 2]);
    assert.equal(t.spans().length, 1);
  });
  it("client: a child of the current context, replacing any traceparent in the call's metadata", async () => {
    const t = new Tracer({ service: "caller" });
    const req: ClientRequest = { service: "svc", endpoint: "H.M", body: {}, stream: false, options: { metadata: { Traceparent: "garbage", "x-a": "1" } } };
    const ctx = { metadata: { traceparent: formatTraceparent(TRACE, PARENT) }, signal: new AbortController().signal };
    await runWithContext(ctx, () => traceClientMiddleware(t)(req, async () => "ok"));
    // "garbage" was named in the call's metadata: it wins over the context, and being malformed starts a new trace.
    const [s] = t.spans();
    assert.notEqual(s!.traceId, TRACE);
    assert.deepEqual(Object.keys(req.options.metadata!).sort(), ["traceparent", "x-a"]);
    assert.equal(parseTraceparent(req.options.metadata!["traceparent"])!.spanId, s!.spanId);

    const req2: ClientRequest = { service: "svc", endpoint: "H.M", body: {}, stream: false, options: {} };
    await runWithContext(ctx, () => traceClientMiddleware(t)(req2, async () => "ok"));
    assert.equal(t.spans().at(-1)!.traceId, TRACE);
    assert.equal(t.spans().at(-1)!.parentId, PARENT);
  });
  it("skips Debug endpoints", async () => {
    const t = new Tracer({ service: "svc" });
    await traceServerMiddleware(t)({ ...serverReq({}), endpoint: "Debug.Trace" }, async () => 1);
    assert.equal(t.spans().length, 0);
  });
});

describe("onIterableEnd", () => {
  it("ends once when the consumer stops early, and keeps cancel()", async () => {
    let ends = 0;
    let cancelled = false;
    const source = Object.assign(
      (async function* () {
        yield 1;
        yield 2;
      })(),
      { cancel: () => (cancelled = true) },
    );
    const it = onIterableEnd(source, () => ends++) as AsyncIterableIterator<number> & { cancel(): void };
    for await (const x of it) if (x === 1) break;
    assert.equal(ends, 1);
    it.cancel();
    assert.equal(ends, 1);
    assert.ok(cancelled);
  });
  it("reports the error a stream failed with", async () => {
    let err: unknown;
    const it = onIterableEnd(
      (async function* () {
        yield 1;
        throw new Error("boom");
      })(),
      (e) => (err = e),
    );
    await assert.rejects(async () => {
      for await (const _ of it) void _;
    });
    assert.equal((err as Error).message, "boom");
  });
});

describe("TracingBroker", () => {
  it("links the consumer span to the producer span through the message header", async () => {
    const inner = memoryBroker();
    const pub = new Tracer({ service: "pub" });
    const sub = new Tracer({ service: "sub" });
    let seen: string | undefined;
    let done!: () => void;
    const handled = new Promise<void>((r) => (done = r));
    await new TracingBroker(inner, sub).subscribe("t", (ev) => {
      seen = ev.header["traceparent"];
      done();
    });
    await new TracingBroker(inner, pub).publish("t", { header: { traceparent: formatTraceparent(TRACE, PARENT) }, body: new Uint8Array() });
    await handled;
    for (let i = 0; i < 20 && sub.spans().length === 0; i++) await new Promise((r) => setImmediate(r));
    const [p] = pub.spans();
    const [c] = sub.spans();
    assert.equal(p!.kind, "producer");
    assert.equal(p!.parentId, PARENT);
    assert.equal(c!.kind, "consumer");
    assert.equal(c!.parentId, p!.spanId);
    assert.equal(parseTraceparent(seen)!.spanId, c!.spanId);
    await inner.close();
  });
});

describe("health checks", () => {
  it("is degraded when a check throws, returns false or times out", async () => {
    const checks = new Map<string, () => unknown>([
      ["ok", () => true],
      ["async", async () => "fine"],
      ["false", () => false],
      ["throws", () => {
        throw new Error("down");
      }],
      ["slow", () => new Promise(() => {})],
    ]);
    const h = await runChecks(checks, 50);
    assert.equal(h.status, "degraded");
    assert.deepEqual(
      Object.fromEntries(Object.entries(h.checks).map(([k, v]) => [k, v.status])),
      { ok: "ok", async: "ok", false: "failing", throws: "failing", slow: "failing" },
    );
    assert.equal(h.checks["throws"]!.error, "down");
    assert.deepEqual(await runChecks(new Map()), { status: "ok", checks: {} });
  });
});
