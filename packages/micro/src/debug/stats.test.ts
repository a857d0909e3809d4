import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { badRequest } from "../errors/errors.js";
import type { ServerRequest } from "../server/server.js";
import { Histogram, LATENCY_BUCKETS, Stats, statsMiddleware } from "./stats.js";

function req(endpoint: string, stream = false): ServerRequest {
  return { service: "s", endpoint, body: {}, stream, context: { metadata: {}, signal: new AbortController().signal } };
}

describe("histogram", () => {
  it("puts values in the first bucket whose bound they do not exceed", () => {
    const h = new Histogram([1, 10, 100]);
    for (const v of [0.5, 1, 1.01, 10, 50, 100, 101, 5000]) h.observe(v);
    assert.deepEqual(Array.from(h.counts), [2, 2, 2, 2]);
    assert.equal(h.count, 8);
    assert.equal(h.max, 5000);
    assert.equal(h.sum, 0.5 + 1 + 1.01 + 10 + 50 + 100 + 101 + 5000);
  });
  it("estimates percentiles by interpolating inside the bucket", () => {
    const h = new Histogram(LATENCY_BUCKETS);
    // 100 calls spread evenly over the 10..25 ms bucket.
    for (let i = 0; i < 100; i++) h.observe(10.1 + (i * 14.9) / 99);
    assert.ok(Math.abs(h.quantile(0.5) - 17.5) < 0.01, String(h.quantile(0.5)));
    assert.ok(Math.abs(h.quantile(0.99) - 24.85) < 0.01, String(h.quantile(0.99)));
    assert.ok(h.quantile(1) <= h.max);
  });
  it("finds the right bucket for a skewed distribution", () => {
    const h = new Histogram(LATENCY_BUCKETS);
    for (let i = 0; i < 90; i++) h.observe(3); // 2..5 bucket
    for (let i = 0; i < 10; i++) h.observe(400); // 250..500 bucket
    const p50 = h.quantile(0.5);
    const p95 = h.quantile(0.95);
    assert.ok(p50 > 2 && p50 <= 5, String(p50));
    assert.ok(p95 > 250 && p95 <= 400, String(p95));
    const s = h.snapshot();
    assert.equal(s.p50, p50);
    assert.equal(s.count, 100);
  });
  it("bounds the overflow bucket by the largest value and answers 0 when empty", () => {
    const h = new Histogram([1]);
    assert.equal(h.quantile(0.5), 0);
    h.observe(10);
    h.observe(30);
    assert.ok(h.quantile(0.99) <= 30 && h.quantile(0.99) > 1);
  });
});

describe("statsMiddleware", () => {
  it("counts requests, errors by code and in-flight calls per endpoint", async () => {
    const stats = new Stats({ service: "s" });
    const mw = statsMiddleware(stats);
    let release!: () => void;
    const pending = mw(req("A.Slow"), () => new Promise((r) => (release = () => r("done"))));
    assert.equal(stats.snapshot().inflight, 1);
    await mw(req("A.Ok"), async () => 1);
    await mw(req("A.Ok"), async () => 1);
    await assert.rejects(mw(req("A.Ok"), async () => Promise.reject(badRequest("s", "no"))));
    await assert.rejects(mw(req("A.Ok"), async () => Promise.reject(new Error("boom"))));
    release();
    await pending;
    const snap = stats.snapshot();
    assert.equal(snap.requests, 5);
    assert.equal(snap.errors, 2);
    assert.equal(snap.inflight, 0);
    const ok = snap.endpoints.find((e) => e.name === "A.Ok")!;
    assert.deepEqual(ok.status, { ok: 2, "400": 1, "500": 1 });
    assert.equal(ok.latency.count, 4);
    assert.equal(ok.latency.counts.reduce((a, b) => a + b, 0), 4);
    assert.equal(snap.endpoints.find((e) => e.name === "A.Slow")!.requests, 1);
  });
  it("keeps a stream in flight until it ends, outside the latency histogram", async () => {
    const stats = new Stats({ service: "s" });
    const mw = statsMiddleware(stats);
    const it = (await mw(req("A.Count", true), async () => (async function* () {
      yield 1;
      yield 2;
    })())) as AsyncIterable<number>;
    assert.equal(stats.snapshot().inflight, 1);
    const got: number[] = [];
    for await (const x of it) got.push(x);
    assert.deepEqual(got, [1, 2]);
    const e = stats.snapshot().endpoints[0]!;
    assert.equal(e.inflight, 0);
    assert.equal(e.status["ok"], 1);
    assert.equal(e.latency.count, 0);
  });
  it("does not count Debug endpoints", async () => {
    const stats = new Stats({ service: "s" });
    await statsMiddleware(stats)(req("Debug.Stats"), async () => ({}));
    assert.equal(stats.snapshot().requests, 0);
  });
});
